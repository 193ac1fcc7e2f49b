from tests.test_properties import *  # noqa
from wskit.connection import WebSocket
async def bad_close(self, code=1000, reason=None):
    await self._send({"type": "websocket.close", "code": code, "reason": reason or ""})
WebSocket.close = bad_close
