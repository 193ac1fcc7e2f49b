"""A real Redis Cluster on 127.0.0.1 from Debian's ``redis-server``: for tests, benchmarks, you.

:class:`LocalCluster` starts ``masters * (1 + replicas)`` nodes (3 masters with one replica
each by default) on free ports with a short ``cluster-node-timeout`` (1 s), joins them with
``redis-cli --cluster create ... --cluster-replicas 1``, and waits until every node reports
``cluster_state:ok`` and agrees on who owns every slot. Every node runs in its own process
group and is killed when the cluster stops (and, on Linux, when the process that started it
dies). No persistence: a restarted node comes back empty, with its ``nodes.conf``.

The faults the cluster tests inject are methods: :meth:`LocalCluster.kill` (SIGKILL),
:meth:`~LocalCluster.pause`/:meth:`~LocalCluster.resume` (SIGSTOP/SIGCONT),
:meth:`~LocalCluster.restart`, :meth:`~LocalCluster.migrate_slot` (``CLUSTER SETSLOT``
``IMPORTING``/``MIGRATING``/``NODE``), and waits on the states that follow them
(:meth:`~LocalCluster.wait_failover`, :meth:`~LocalCluster.wait_healthy`): they poll
``CLUSTER INFO``/``CLUSTER NODES``, never a clock.

``python -m tests._redis_cluster [--port 7000]`` (what ``./dev cluster`` runs) starts the same
cluster and keeps it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ClusterError",
    "LocalCluster",
    "Node",
    "command",
    "free_ports",
    "hash_slot",
    "topics_on_distinct_masters",
]

SLOTS = 16384


class ClusterError(RuntimeError):
    """A node answered with an error, or the cluster did not reach a state in time."""


# --- slots (CRC16/XMODEM of the key, or of its hash tag) -----------------------------------


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def hash_slot(key: str | bytes) -> int:
    """The cluster slot of ``key``: CRC16 of its ``{hash tag}`` if it has one, mod 16384."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start != -1:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return _crc16(data) % SLOTS


# --- a tiny RESP client for the cluster's own commands ---------------------------------------


def _read_reply(stream: object) -> object:
    readline = stream.readline  # type: ignore[attr-defined]
    line: bytes = readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return ClusterError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data: bytes = stream.read(size + 2)  # type: ignore[attr-defined]
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_read_reply(stream) for _ in range(size)]
    raise ClusterError(f"unexpected reply {line!r}")


def command(port: int, *args: str | int, deadline: float = 2.0) -> object:
    """Send one command to the node on ``port``; its reply (an error reply raises)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection(("127.0.0.1", port), timeout=deadline) as sock:
        sock.sendall(b"".join(parts))
        with sock.makefile("rb") as stream:
            reply = _read_reply(stream)
    if isinstance(reply, ClusterError):
        raise reply
    return reply


def _die_with_us() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: SIGKILL the node if the process that started it dies without stopping it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- the nodes ------------------------------------------------------------------------------


@dataclass
class Node:
    """One ``redis-server`` of the cluster, on a fixed port across restarts."""

    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    paused: bool = False

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT``: what ``RedisBackend(url, sharded=True)`` takes."""
        return f"redis://{self.address}"

    @property
    def running(self) -> bool:
        """Whether the process is alive (a paused node is alive)."""
        return self.process is not None and self.process.poll() is None

    def command(self, *args: str | int, deadline: float = 2.0) -> object:
        """Send one command to this node."""
        return command(self.port, *args, deadline=deadline)

    def node_id(self) -> str:
        """The node's cluster id (``CLUSTER MYID``)."""
        return str(self.command("CLUSTER", "MYID"))


@dataclass
class ClusterView:
    """What one node says about the cluster (``CLUSTER NODES``), by port."""

    ids: dict[int, str] = field(default_factory=dict)
    masters: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    slots: dict[int, int] = field(default_factory=dict)  # slot -> owning port

    @classmethod
    def parse(cls, text: str) -> ClusterView:
        view = cls()
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 8:
                continue
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            flags = set(fields[2].split(","))
            view.ids[port] = fields[0]
            if "master" in flags:
                view.masters.add(port)
            if flags & {"fail", "fail?", "handshake", "noaddr"}:
                view.failed.add(port)
            for spec in fields[8:]:
                if spec.startswith("["):  # a slot being migrated or imported
                    continue
                low, _, high = spec.partition("-")
                for slot in range(int(low), int(high or low) + 1):
                    view.slots[slot] = port
        return view


class LocalCluster:
    """A Redis Cluster of local ``redis-server`` processes (see the module docstring).

    Args:
        directory: Where the nodes keep their logs and ``nodes-PORT.conf``.
        masters: Number of masters (at least 3: ``redis-cli --cluster create`` wants 3).
        replicas: Replicas per master.
        node_timeout: ``cluster-node-timeout`` in seconds: how long a node may be unreachable
            before the others mark it failed and promote its replica.
        base_port: First port (nodes take consecutive ports, buses ``+10000``); free ports
            by default.
    """

    def __init__(
        self,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout: float = 1.0,
        base_port: int | None = None,
    ) -> None:
        self.binary = _require("redis-server")
        self.cli = _require("redis-cli")
        self.directory = directory
        self.masters_wanted = masters
        self.replicas = replicas
        self.node_timeout = node_timeout
        count = masters * (1 + replicas)
        if base_port is None:
            ports = free_ports(2 * count)
            pairs = list(zip(ports[:count], ports[count:], strict=True))
        else:
            pairs = [(base_port + i, base_port + 10000 + i) for i in range(count)]
        self.nodes = [Node(port, bus, directory) for port, bus in pairs]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, deadline: float = 60.0) -> None:
        """Start every node, create the cluster, and wait until it is healthy."""
        atexit.register(self.stop)  # nodes restarted from other threads outlive no exit
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            self._wait_answers(node, deadline)
        args = [self.cli, "--cluster", "create", *(n.address for n in self.nodes)]
        args += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=deadline, check=False)
        if done.returncode != 0:
            raise ClusterError(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")
        self.wait_healthy(deadline)

    def stop(self) -> None:
        """Kill every node (SIGKILL to its process group) and reap it."""
        for node in self.nodes:
            self._kill(node)

    def _spawn(self, node: Node) -> None:
        node.starts += 1
        log = self.directory / f"redis-{node.port}-{node.starts}.log"
        args = [
            self.binary, "--port", str(node.port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-port", str(node.bus_port),
            "--cluster-config-file", f"nodes-{node.port}.conf",
            "--cluster-node-timeout", str(int(self.node_timeout * 1000)),
            # a node with no replica left still serves its slots: faults stay independent
            "--cluster-allow-replica-migration", "no",
            # a replica takes over however long ago it last heard from its master, and full
            # syncs start at once (not 5 s later): a test cluster has no data worth waiting for
            "--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0",
            "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            "--logfile", str(log),
        ]  # fmt: skip
        # PR_SET_PDEATHSIG fires when the *thread* that started the node ends: only the
        # main thread's nodes get it (a fault run in a worker thread restarts nodes too).
        main = threading.current_thread() is threading.main_thread()
        node.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed as a whole
            preexec_fn=_die_with_us if main else None,
        )
        node.paused = False

    def _kill(self, node: Node) -> None:
        process = node.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        node.process = None
        node.paused = False

    def _wait_answers(self, node: Node, deadline: float) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if not node.running:
                raise ClusterError(f"redis-server on {node.address} exited: {self._log(node)}")
            with contextlib.suppress(OSError, ClusterError):
                if node.command("PING", deadline=1.0) == "PONG":
                    return
            time.sleep(0.02)
        raise ClusterError(f"redis-server on {node.address} did not answer")

    def _log(self, node: Node) -> str:
        path = self.directory / f"redis-{node.port}-{node.starts}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    # -- faults ------------------------------------------------------------------------------

    def kill(self, node: Node) -> None:
        """SIGKILL ``node``, as a crash would (start it again with :meth:`restart`)."""
        self._kill(node)

    def pause(self, node: Node) -> None:
        """SIGSTOP ``node``: it keeps its sockets but answers nothing."""
        assert node.process is not None
        os.killpg(node.process.pid, signal.SIGSTOP)
        node.paused = True

    def resume(self, node: Node) -> None:
        """SIGCONT a paused ``node``."""
        assert node.process is not None
        os.killpg(node.process.pid, signal.SIGCONT)
        node.paused = False

    def restart(self, node: Node, deadline: float = 30.0) -> None:
        """Start ``node`` again on its port with its ``nodes.conf`` (it rejoins the cluster)."""
        self._kill(node)
        self._spawn(node)
        self._wait_answers(node, deadline)

    def restart_all(self, deadline: float = 60.0) -> None:
        """Kill every node, start them all again, and wait until the cluster is healthy."""
        self.stop()
        for node in self.nodes:
            self._spawn(node)
        for node in self.nodes:
            self._wait_answers(node, deadline)
        self.wait_healthy(deadline)

    def migrate_slot(self, slot: int, target: Node, *, finish: bool = True) -> Node:
        """Move ``slot`` to the master ``target`` as ``redis-cli --cluster reshard`` does.

        ``CLUSTER SETSLOT slot IMPORTING`` on the target, ``MIGRATING`` on the owner, then
        ``MIGRATE`` of the slot's keys, then ``SETSLOT slot NODE target`` on both and on every
        other master. With ``finish=False`` it stops after the keys moved (call
        :meth:`finish_migration`). Returns the node that owned the slot.
        """
        source = self.owner(slot)
        if source is target:
            raise ValueError(f"slot {slot} is already on {target.address}")
        source_id, target_id = source.node_id(), target.node_id()
        target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while True:
            keys = source.command("CLUSTER", "GETKEYSINSLOT", slot, 100)
            assert isinstance(keys, list)
            if not keys:
                break
            source.command(
                "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *map(str, keys)
            )
        if finish:
            self.finish_migration(slot, source, target)
        return source

    def finish_migration(self, slot: int, source: Node, target: Node) -> None:
        """``CLUSTER SETSLOT slot NODE target`` on the target, the source, and the others."""
        target_id = target.node_id()
        target.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        source.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        for node in self.masters():
            if node is not source and node is not target:
                with contextlib.suppress(ClusterError, OSError):
                    node.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)

    # -- state -------------------------------------------------------------------------------

    def live_nodes(self) -> list[Node]:
        """Nodes whose process runs and is not paused."""
        return [node for node in self.nodes if node.running and not node.paused]

    def view(self, node: Node | None = None) -> ClusterView:
        """``CLUSTER NODES`` as one live node sees it."""
        errors: list[Exception] = []
        for asked in [node] if node is not None else self.live_nodes():
            try:
                return ClusterView.parse(str(asked.command("CLUSTER", "NODES")))
            except (OSError, ClusterError) as exc:
                errors.append(exc)
        raise ClusterError(f"no node answered CLUSTER NODES: {errors}")

    def by_port(self, port: int) -> Node:
        """The node on ``port``."""
        return next(node for node in self.nodes if node.port == port)

    def masters(self) -> list[Node]:
        """The masters that own slots, as a live node sees them."""
        view = self.view()
        return [self.by_port(port) for port in sorted(set(view.slots.values()))]

    def owner(self, slot: int) -> Node:
        """The master that owns ``slot``."""
        return self.by_port(self.view().slots[slot])

    def replica_of(self, master: Node) -> Node:
        """A replica of ``master``."""
        master_id = master.node_id()
        for line in str(master.command("CLUSTER", "NODES")).splitlines():
            fields = line.split()
            if len(fields) > 3 and fields[3] == master_id:
                return self.by_port(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        raise ClusterError(f"{master.address} has no replica")

    def healthy(self) -> bool:
        """Every node runs, says ``cluster_state:ok``, sees no failed node, and all agree."""
        views = []
        for node in self.nodes:
            if not node.running or node.paused:
                return False
            try:
                info = str(node.command("CLUSTER", "INFO", deadline=1.0))
                if "cluster_state:ok" not in info:
                    return False
                view = self.view(node)
            except (OSError, ClusterError):
                return False
            if view.failed or len(view.ids) != len(self.nodes) or len(view.slots) != SLOTS:
                return False
            if node.port not in view.masters and not _replica_synced(node):
                return False
            views.append(view)
        first = views[0]
        return all(v.slots == first.slots and v.masters == first.masters for v in views)

    def wait_healthy(self, deadline: float = 60.0) -> None:
        """Wait until :meth:`healthy` (every node up, ``ok``, in agreement)."""
        self._wait(self.healthy, deadline, "the cluster did not become healthy")

    def wait_failover(
        self, old_master: Node, slot: int, deadline: float = 60.0, *, poll: float = 0.05
    ) -> Node:
        """Wait until every live node says a node other than ``old_master`` owns ``slot``.

        ``poll`` is the pause between two rounds of questions (to every live node).
        """

        def promoted() -> bool:
            try:
                for node in self.live_nodes():
                    info = str(node.command("CLUSTER", "INFO", deadline=1.0))
                    owner = ClusterView.parse(str(node.command("CLUSTER", "NODES"))).slots
                    if "cluster_state:ok" not in info or owner.get(slot) == old_master.port:
                        return False
            except (OSError, ClusterError):
                return False
            return True

        self._wait(promoted, deadline, f"no replica took over slot {slot}", poll)
        return self.owner(slot)

    def _wait(self, condition: object, deadline: float, message: str, poll: float = 0.05) -> None:
        check = condition if callable(condition) else None
        assert check is not None
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if check():
                return
            time.sleep(poll)
        logs = "\n".join(f"{n.address}: {self._log(n)[-600:]}" for n in self.nodes)
        raise ClusterError(f"{message} in {deadline} s\n{logs}")

    @property
    def url(self) -> str:
        """The URL of the first node (any node works as an entry point)."""
        return self.nodes[0].url


def topics_on_distinct_masters(cluster: LocalCluster, prefix: str, count: int = 3) -> list[str]:
    """``count`` topic names whose channels (``{prefix}{topic}``) live on different masters."""
    view = cluster.view()
    topics: list[str] = []
    owners: set[int] = set()
    for i in range(10_000):
        topic = f"room{i}"
        owner = view.slots[hash_slot(f"{prefix}{{{topic}}}")]
        if owner not in owners:
            owners.add(owner)
            topics.append(topic)
            if len(topics) == count:
                return topics
    raise ClusterError(f"fewer than {count} masters own slots")


def _replica_synced(node: Node) -> bool:
    info = str(node.command("INFO", "replication", deadline=1.0))
    return "master_link_status:up" in info


def _require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed (apt-get install redis-server)")
    return path


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that were free a moment ago, below the ephemeral range.

    A node restarts on its port: taken from the ephemeral range, that port could meanwhile
    be the source port of some outgoing connection, and the restart would fail.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(10000, max(low, 10001))
        if port in ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


def main(argv: Sequence[str] | None = None) -> int:
    """Start a local cluster and keep it until Ctrl-C (``./dev cluster``)."""
    parser = argparse.ArgumentParser(prog="./dev cluster", description=main.__doc__)
    parser.add_argument("--port", type=int, default=7000, help="first node's port (default 7000)")
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--node-timeout", type=float, default=1.0, help="seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wskit-cluster-") as tmp:
        cluster = LocalCluster(
            Path(tmp),
            masters=args.masters,
            replicas=args.replicas,
            node_timeout=args.node_timeout,
            base_port=args.port,
        )
        try:
            cluster.start()
            view = cluster.view()
            print(f"Redis Cluster ready ({len(cluster.nodes)} nodes, logs in {tmp}):")
            for node in cluster.nodes:
                role = "master" if node.port in view.masters else "replica"
                print(f"  {node.url}  {role}")
            print(f"RedisBackend({cluster.url!r}, sharded=True)  -- Ctrl-C stops the cluster")
            sys.stdout.flush()
            _wait_forever()
        except KeyboardInterrupt:
            pass
        finally:
            cluster.stop()
            print("cluster stopped")
    return 0


def _wait_forever() -> None:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
