"""The demo chat served by ``wskit demo``: a real-time chat on wskit's own parts.

* :mod:`wskit.demo.protocol`: the msgspec types of every operation on the wire;
* :mod:`wskit.demo.app`: the ASGI app (``create_app``): routing, Origin and name checks, the
  operation router, the hub, presence and history, the page and the AsyncAPI document;
* :mod:`wskit.demo.store`: presence and history, in memory or in Redis;
* :mod:`wskit.demo.web`: the page, its files and the AsyncAPI document over plain HTTP;
* :mod:`wskit.demo.cli`: the ``wskit demo`` command and its terminal status line
  (:mod:`wskit.demo.terminal`);
* ``static/``: the browser page (plain HTML, CSS and JavaScript, no build step, no CDN).
"""
