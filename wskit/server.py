"""``wskit.server``: the serving API's earlier home, kept for imports (see :mod:`wskit.serving`)."""

from __future__ import annotations

from .serving import Listening as Listening
from .serving import ServeKwargs as ServeKwargs
from .serving import ServeOptions as ServeOptions
from .serving import ServerName as ServerName
from .serving import ServerOptions as ServerOptions
from .serving import Worker as Worker
from .serving import check_multiprocess_safety as check_multiprocess_safety
from .serving import configure_logging as configure_logging
from .serving import find_process_local as find_process_local
from .serving import load_app as load_app
from .serving import serve as serve
from .serving import serve_async as serve_async
from .serving import serve_workers as serve_workers
