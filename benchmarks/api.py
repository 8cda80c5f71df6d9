"""The HTTP API under load: N concurrent clients placing orders and reading the book
over HTTP against `energy-tui api --workers W`, against the same placements through
the service in-process, in the same run.

    python benchmarks/api.py [--db URL --reset] [--clients 1,8] [--workers 2] [--requests 200]
                             [--rounds 3] [--client curl|http.client] [--no-rate-limits]

A maker rests large orders on both sides (asks at 0.2100, bids at 0.1900); each client
(a trader with its own key) alternates IOC buys at 0.2100 and IOC sells at 0.1900 of
1 kWh, each of which trades with the maker, and reads the book (depth 20) after each
order. Prints requests/s and p50/p99 latency per endpoint for each client count, and
the budgets of issue 14: a placement over HTTP at 1 client costs at most 2x the
in-process one (p50), and 8 clients get at least the throughput of 1.

Each round places in-process first, then over HTTP with each client count, so that the
two sides of a ratio are measured minutes apart at most on a machine whose load moves;
the verdicts are the medians of the rounds' ratios. Each round also counts the CPU of
a placement over HTTP (the server's processes, from /proc, and the client's thread)
against the in-process one's: what the request costs, which the machine's other jobs
disturb far less than wall time. (On PostgreSQL most of a placement is the database
server's work and its commit's WAL flush, which neither side counts: there the CPU
ratio says little.)

The clients are libcurl (pycurl, in the dev extra) unless `--client http.client`: the
standard library's client spends about 0.2 ms more of CPU on each request than the
server's whole HTTP layer, and at 1 client that time is in the measured latency.

The server runs with its rate limits on (at a million a minute, never reached), as a
real one pays for them: one upsert per request in the shared `api_rate_limits` table;
the same upsert is timed in-process too. `--no-rate-limits` turns them off.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import parser, percentile, prepare
from energy_tui.services import keys, prosumers, users
from energy_tui.services.context import Actor
from energy_tui.services.market import OrderRequest, place_order
from energy_tui.services.rate_limits import Limit, SharedLimiter

OPERATOR = Actor(label="os:bench", role="admin")
PASSWORD = "a long enough password"


def trader(name: str, with_key: bool = True) -> tuple[Actor, str | None]:
    prosumers.add_prosumer(OPERATOR, name, name)
    prosumers.deposit(OPERATOR, name, "10000000")
    prosumers.add_meter_reading(OPERATOR, name, generated="10000000")
    users.add_user(OPERATOR, name, f"{name}@example.org", PASSWORD, rounds=4,
                   prosumer_address=name)  # fmt: skip
    actor = Actor(f"user:{name}", "trader", username=name, prosumer_address=name)
    key = keys.create_key(OPERATOR, name, "bench", "read,trade").key if with_key else None
    return actor, key


def order_body(i: int) -> dict[str, object]:
    buy = i % 2 == 0
    return {
        "side": "buy" if buy else "sell",
        "amount": "1",
        "price": "0.2100" if buy else "0.1900",
        "time_in_force": "ioc",
        "confirm": True,
    }


def in_process(
    actor: Actor, count: int, key: str | None = None, cpu: list[float] | None = None
) -> list[float]:
    """Each placement's seconds; with `key`, the key check is timed with it (as the
    server does it for every request); `cpu` gets the CPU seconds of them all."""
    seconds = []
    cpu_started = time.thread_time()
    for i in range(count):
        body = order_body(i)
        request = OrderRequest(str(body["side"]), Decimal("1"), Decimal(str(body["price"])), "ioc")
        started = time.perf_counter()
        if key is not None:
            actor = keys.verify(key, "127.0.0.1")
        place_order(actor, request)
        seconds.append(time.perf_counter() - started)
    if cpu is not None:
        cpu.append(time.thread_time() - cpu_started)
    return seconds


def rate_limit_checks(count: int) -> list[float]:
    """Each shared rate-limit check's seconds: the address's and a key's, one upsert."""
    limiter = SharedLimiter()
    limits = [Limit("a:127.0.0.1", 1_000_000), Limit("k:bench", 1_000_000)]
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        limiter.wait(limits)
        seconds.append(time.perf_counter() - started)
    return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, workers: int, limits: bool) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    rate = "1000000" if limits else "0"
    env = {**os.environ, "API_RATE_PER_KEY": rate, "API_RATE_PER_ADDRESS": rate}
    command = [sys.executable, "-m", "energy_tui", "--db", url, "api", "--port", str(port),
               "--workers", str(workers)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not start: {process.communicate()[1]}")


class Client:
    """One kept-alive HTTP/1.1 connection of the standard library's http.client
    (TCP_NODELAY, as curl sets it: otherwise a small second write waits for a delayed
    ACK, about 40 ms). It costs the client about 0.2 ms of CPU a request more than
    libcurl (it makes a file object and parses the headers with the email package for
    each response): `--client curl` is the default when pycurl is installed."""

    def __init__(self, base: str, key: str) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self.connection.connect()
        assert self.connection.sock is not None
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = {"X-API-Key": key}

    def call(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        headers = self.headers
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


class CurlClient:
    """One kept-alive HTTP/1.1 connection of libcurl (pycurl: the library of the curl
    the README's examples use; TCP_NODELAY is its default), the same requests as
    `Client`."""

    def __init__(self, base: str, key: str) -> None:
        import pycurl

        self.pycurl = pycurl
        self.base = base
        self.curl = pycurl.Curl()
        self.body = io.BytesIO()
        self.curl.setopt(pycurl.WRITEFUNCTION, self.body.write)
        self.curl.setopt(pycurl.TIMEOUT, 60)
        # no "Expect: 100-continue" round trip before a body
        self.plain = [f"X-API-Key: {key}", "Expect:"]
        self.posting = [*self.plain, "Content-Type: application/json"]

    def call(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        pycurl, curl = self.pycurl, self.curl
        self.body.seek(0)
        self.body.truncate()
        curl.setopt(pycurl.URL, self.base + path)
        if body is not None:
            curl.setopt(pycurl.HTTPHEADER, self.posting)
            curl.setopt(pycurl.POSTFIELDS, json.dumps(body))
            if method != "POST":
                curl.setopt(pycurl.CUSTOMREQUEST, method)
        else:
            curl.setopt(pycurl.HTTPHEADER, self.plain)
            curl.setopt(pycurl.HTTPGET, 1)
            curl.setopt(pycurl.CUSTOMREQUEST, None if method == "GET" else method)
        curl.perform()
        return int(curl.getinfo(pycurl.RESPONSE_CODE)), self.body.getvalue()

    def close(self) -> None:
        self.curl.close()


def curl_installed() -> bool:
    return importlib.util.find_spec("pycurl") is not None


CLIENTS: dict[str, type[Client] | type[CurlClient]] = {
    "http.client": Client,
    "curl": CurlClient,
}


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of process `pid` and its descendants (the server's
    worker processes) so far, from /proc; None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for child in children:
        more = process_cpu(int(child))
        total += more or 0.0
    return total


def idle_cpu(pid: int, seconds: float = 1.5) -> float:
    """CPU seconds per second that the idle server spends anyway (uvicorn's ticks, the
    supervisor's pings to its workers: about 15 ms a second with 2 workers)."""
    started = process_cpu(pid)
    time.sleep(seconds)
    ended = process_cpu(pid)
    return 0.0 if started is None or ended is None else (ended - started) / seconds


def cpu_per_placement(
    base: str,
    key: str,
    count: int,
    pid: int,
    make: type[Client] | type[CurlClient],
    idle: float,
) -> tuple[float, float] | None:
    """(the server's, the client's) CPU seconds per placement over HTTP: one client
    placing `count` orders, less what the idle server would have spent meanwhile
    (`idle` CPU seconds a second); None where the server's CPU cannot be read."""
    client = make(base, key)
    server_started, client_started = process_cpu(pid), time.thread_time()
    wall_started = time.perf_counter()
    for i in range(count):
        client.call("POST", "/api/v1/orders", order_body(i))
    wall = time.perf_counter() - wall_started
    server_ended, client_ended = process_cpu(pid), time.thread_time()
    client.close()
    if server_started is None or server_ended is None:
        return None
    server = max(0.0, server_ended - server_started - idle * wall)
    return server / count, (client_ended - client_started) / count


def http_floor(
    base: str, key: str, count: int, make: type[Client] | type[CurlClient]
) -> list[float]:
    """Round trips of GET /health: HTTP, the server and its middleware, no database."""
    client = make(base, key)
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        client.call("GET", "/health")
        seconds.append(time.perf_counter() - started)
    client.close()
    return seconds


def run_clients(
    base: str, client_keys: list[str], requests: int, make: type[Client] | type[CurlClient]
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"POST /orders": [], "GET /market/book": []}
    lock = threading.Lock()
    failures: list[str] = []

    def client(key: str) -> None:
        mine: dict[str, list[float]] = {name: [] for name in timings}
        http = make(base, key)
        try:
            for i in range(requests):
                started = time.perf_counter()
                status, text = http.call("POST", "/api/v1/orders", order_body(i))
                mine["POST /orders"].append(time.perf_counter() - started)
                if status != 201:
                    failures.append(text[:200].decode(errors="replace"))
                started = time.perf_counter()
                http.call("GET", "/api/v1/market/book?depth=20")
                mine["GET /market/book"].append(time.perf_counter() - started)
        finally:
            http.close()
        with lock:
            for name, values in mine.items():
                timings[name] += values

    threads = [threading.Thread(target=client, args=(key,)) for key in client_keys]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    timings["wall"] = [time.perf_counter() - started]
    if failures:
        print(f"  {len(failures)} placements failed, e.g. {failures[0]}")
    return timings


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clients", default="1,8", help="client counts, comma-separated")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--requests", type=int, default=200, help="orders per client")
    p.add_argument("--rounds", type=int, default=3, help="rounds, alternating the sides")
    p.add_argument(
        "--client",
        choices=sorted(CLIENTS),
        default="curl" if curl_installed() else "http.client",
        help="the clients' HTTP library (default: curl when pycurl is installed)",
    )
    p.add_argument("--no-rate-limits", action="store_true", help="serve without rate limits")
    args = p.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    make = CLIENTS[args.client]
    url, database = prepare(args.db, args.reset)
    maker, _ = trader("bench-maker", with_key=False)
    place_order(maker, OrderRequest("sell", Decimal("9000000"), Decimal("0.2100")))
    place_order(maker, OrderRequest("buy", Decimal("9000000"), Decimal("0.1900")))
    client_keys = []
    for i in range(max(counts)):
        _, key = trader(f"bench-client-{i}")
        assert key is not None
        client_keys.append(key)
    floor_actor, floor_key = trader("bench-floor")
    assert floor_key is not None
    limiting = rate_limit_checks(args.requests)
    database.close()
    print(
        f"{url.split('@')[-1]}: {args.workers} worker(s), {args.requests} orders per client, "
        f"{args.rounds} round(s), clients on {args.client}"
    )
    print(
        f"in-process shared rate-limit check (one upsert): p50 "
        f"{percentile(limiting, 0.5) * 1000:.3f} ms, p99 {percentile(limiting, 0.99) * 1000:.3f} ms"
        f"{'' if not args.no_rate_limits else ' (the server runs without)'}"
    )
    process, base = start_server(url, args.workers, not args.no_rate_limits)
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    scaling: list[float] = []
    try:
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}:")
            database.connect()
            cpu: list[float] = []
            floor = in_process(floor_actor, args.requests, cpu=cpu)
            same_work = in_process(floor_actor, args.requests, key=floor_key)
            database.close()
            floor_p50, work_p50 = percentile(floor, 0.5), percentile(same_work, 0.5)
            print(
                f"  in-process placement: p50 {floor_p50 * 1000:.2f} ms, p99 "
                f"{percentile(floor, 0.99) * 1000:.2f} ms; key check + placement (the "
                f"server's work): p50 {work_p50 * 1000:.2f} ms"
            )
            health = http_floor(base, client_keys[0], args.requests, make)
            print(
                f"  HTTP floor (GET /health, no database): p50 "
                f"{percentile(health, 0.5) * 1000:.2f} ms"
            )
            throughput = {}
            for n in counts:
                timings = run_clients(base, client_keys[:n], args.requests, make)
                wall = timings.pop("wall")[0]
                total = sum(len(values) for values in timings.values())
                throughput[n] = total / wall
                print(f"  {n} client(s): {throughput[n]:.0f} requests/s in all")
                for name, values in timings.items():
                    print(
                        f"    {name:18} {len(values) / wall:7.0f}/s  "
                        f"p50 {percentile(values, 0.5) * 1000:7.2f} ms  "
                        f"p99 {percentile(values, 0.99) * 1000:7.2f} ms"
                    )
                    if n == 1 and name == "POST /orders":
                        ratio = percentile(values, 0.5) / floor_p50
                        ratios.append(ratio)
                        same = percentile(values, 0.5) / work_p50
                        print(
                            f"    placement over HTTP / in-process (p50): {ratio:.2f}x; / key "
                            f"check + placement in-process: {same:.2f}x"
                        )
            if 1 in throughput and 8 in throughput:
                scaling.append(throughput[8] / throughput[1])
                print(f"  throughput 8 clients / 1 client: {scaling[-1]:.2f}x")
            # measured here, with every worker long started (a worker still starting
            # would count as the idle server's)
            idle = idle_cpu(process.pid)
            spent = cpu_per_placement(base, client_keys[0], args.requests, process.pid, make, idle)
            if spent is not None:
                server, client = spent
                in_process_cpu = cpu[0] / args.requests
                cpu_ratios.append((server + client) / in_process_cpu)
                print(
                    f"  CPU per placement: in-process {in_process_cpu * 1e6:.0f} us; over HTTP "
                    f"{(server + client) * 1e6:.0f} us (server {server * 1e6:.0f} + client "
                    f"{client * 1e6:.0f}; the idle server's {idle * 1000:.0f} ms a second "
                    f"left out), {cpu_ratios[-1]:.2f}x"
                )
        print("medians of the rounds:")
        if ratios:
            middle = statistics.median(ratios)
            verdict = "within" if middle <= 2 else "OVER"
            print(
                f"  placement over HTTP / in-process (p50), 1 client: {middle:.2f}x ({verdict} 2x)"
            )
        if cpu_ratios:
            print(
                f"  CPU per placement over HTTP / in-process: {statistics.median(cpu_ratios):.2f}x"
            )
        if scaling:
            middle = statistics.median(scaling)
            verdict = "within" if middle >= 1 else "BELOW"
            print(f"  throughput 8 clients / 1 client: {middle:.2f}x ({verdict} budget >= 1x)")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
