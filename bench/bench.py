#!/usr/bin/env python3
"""bench.py - the measurements behind bench/run.sh (issue 8).

Called by run.sh with the fixture's env file, the built probes, the
reference check_imap and the runstat helper; writes a JSON file with every
sample and the text reports (one per TLS backend, plus a summary on
stdout).  Not meant to be run by hand, but it can be:

    bench.py --env bench/work/dovecot/env --runstat bench/work/runstat \
             --probe openssl=bench/work/build-openssl/check_imap_session \
             --probe mbedtls=bench/work/build-mbedtls/check_imap_session \
             --ref /usr/lib/nagios/plugins/check_imap --out-dir bench/work/out

Sections (each can be skipped):
  cost     N interleaved rounds (A B C ... A B C ...) straight to Dovecot:
           wall, CPU (user+sys) and peak RSS of every contender, from
           wait4() in runstat (a small C parent: see runstat.c for why)
  rss      where the peak RSS is: private vs shared library pages
  trust    the same session with each way of loading trust anchors
  rtt      through rtt-proxy.py at delay 0 and D: round trips =
           (median wall at D - median wall at 0) / RT, rounded, + 1 for
           the TCP handshake the proxy cannot delay; RT is what one round
           trip through the proxy adds, measured with an echo server
           (2D plus the proxy's own ~0.5 ms)
  waits    one strace'd run per contender at delay D: the system calls
           that blocked for >= D (poll/read/...): the client's own count
           of round trips (+ 1 for TCP, as above)
  profile  callgrind of one session per backend
"""
import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("export "):
                continue
            k, v = line[len("export "):].split("=", 1)
            env[k] = shlex.split(v)[0] if v else ""
    return env


# ------------------------------------------------------------------ running

class Runner:
    def __init__(self, runstat, tmp):
        self.runstat = runstat
        self.tmp = tmp

    def run(self, argv, timeout=60):
        """Run argv once under runstat; returns a sample dict."""
        out = os.path.join(self.tmp, "stdout")
        rep = os.path.join(self.tmp, "rusage")
        cmd = [self.runstat, "-o", out, "-r", rep, "--"] + argv
        subprocess.run(cmd, check=True, timeout=timeout)
        with open(rep) as f:
            kv = dict(x.split("=") for x in f.read().split())
        with open(out, errors="replace") as f:
            text = f.read()
        return {
            "wall_ms": int(kv["wall_ns"]) / 1e6,
            "cpu_ms": (int(kv["user_us"]) + int(kv["sys_us"])) / 1e3,
            "user_ms": int(kv["user_us"]) / 1e3,
            "sys_ms": int(kv["sys_us"]) / 1e3,
            "rss_kb": int(kv["maxrss_kb"]),
            "minflt": int(kv.get("minflt", 0)),
            "status": int(kv["status"]),
            "first": text.split("\n", 1)[0][:400],
            "stdout": text,
        }


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def summarize(samples, key):
    xs = [s[key] for s in samples]
    return {"median": med(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def perf_values(text):
    """perfdata label -> value (number) from a Nagios status line."""
    if "|" not in text.split("\n", 1)[0]:
        return {}
    perf = text.split("\n", 1)[0].split("|", 1)[1]
    vals = {}
    for m in re.finditer(r"'?([^'=\s]+)'?=([-0-9.]+)", perf):
        vals[m.group(1)] = float(m.group(2))
    return vals


# ------------------------------------------------------------------ contenders

class Contender:
    def __init__(self, name, kind, backend, argv_fn, modes):
        self.name = name          # "check_imap -S", "openssl", "openssl --pipeline"
        self.kind = kind          # "ref" or "probe"
        self.backend = backend    # None for the reference
        self.argv_fn = argv_fn    # (host, port, mode, extra) -> argv
        self.modes = modes        # modes it can do: "implicit", "starttls"

    def argv(self, port, mode="implicit", extra=()):
        return self.argv_fn("127.0.0.1", port, mode, list(extra))


def probe_argv(binary, fx, pwfile, pipeline, cache_dir=None):
    """The issue's target session.  extra may replace the trust options
    (the default is --cafile with the fixture's CA).  The pipelined
    contender remembers post-login capabilities in cache_dir (one entry
    per port and mode: warm() fills it before a measurement)."""
    def fn(host, port, mode, extra):
        trust_opts = ("--cafile", "--capath", "--insecure")
        trust = extra if any(x in trust_opts for x in extra) else ["--cafile", fx.get("DOVECOT_CA", "CA")]
        a = [binary, "-H", host, "-p", str(port)]
        a += ["-S"] if mode == "implicit" else ["--starttls"]
        a += trust
        a += ["-U", fx.get("DOVECOT_USER", "USER"), "--password-file", pwfile, "--auth", "plain",
              "--search", "UNSEEN", "--fetch", "headers", "-t", "10"]
        if pipeline:
            a.append("--pipeline")
            if cache_dir:
                a += ["--cache-dir", cache_dir]
        return a
    return fn


def warm(c, port, mode):
    """One discarded run of a contender that keeps a --cache-dir, so the
    measured runs find this port's entry (the first run of a new server
    learns; it is not what a monitoring host sees every minute)."""
    if c.kind == "probe" and "--pipeline" in c.name:
        subprocess.run(c.argv(port, mode), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def ref_argv(binary):
    def fn(host, port, mode, extra):
        return [binary, "-H", host, "-p", str(port), "-S"] + extra
    return fn


# ------------------------------------------------------------------ proxies

class Proxies:
    def __init__(self, proxy, tmp, lifetime):
        self.proxy, self.tmp, self.lifetime = proxy, tmp, lifetime
        self.procs = {}

    def port(self, target_port, delay_ms):
        key = (target_port, delay_ms)
        if key in self.procs:
            return self.procs[key][1]
        pf = os.path.join(self.tmp, f"proxy-{target_port}-{delay_ms}.port")
        p = subprocess.Popen([sys.executable, self.proxy, "--target", f"127.0.0.1:{target_port}",
                              "--delay-ms", str(delay_ms), "--port-file", pf,
                              "--lifetime", str(self.lifetime)],
                             stdout=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(pf):
                break
            if p.poll() is not None:
                raise RuntimeError("rtt-proxy.py exited at start")
            time.sleep(0.05)
        with open(pf) as f:
            port = int(f.read())
        self.procs[key] = (p, port)
        return port

    def calibrate(self, delays, pings=40):
        """Round-trip time through the proxy (median of `pings` 100-byte
        echoes, TCP_NODELAY) for each delay: what one round trip adds."""
        import socket
        import threading
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        stop = []

        def serve():
            while not stop:
                try:
                    c, _ = srv.accept()
                except OSError:
                    return
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
                c.close()

        th = threading.Thread(target=serve, daemon=True)
        th.start()
        out = {}
        for d in delays:
            port = self.port(srv.getsockname()[1], d)
            c = socket.create_connection(("127.0.0.1", port))
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rts = []
            for _ in range(pings):
                t = time.perf_counter()
                c.sendall(b"x" * 100)
                n = 0
                while n < 100:
                    n += len(c.recv(1000))
                rts.append((time.perf_counter() - t) * 1000)
            c.close()
            out[d] = med(rts)
        stop.append(1)
        srv.close()
        return out

    def stop(self):
        for p, _ in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p, _ in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


# ------------------------------------------------------------------ sections

def interleaved(runner, jobs, rounds, warmup=1):
    """jobs: list of (key, argv).  Every round runs each job once; the
    order rotates by one each round (A B C, B C A, ...)."""
    res = {k: [] for k, _ in jobs}
    for r in range(-warmup, rounds):
        k0 = r % len(jobs) if r >= 0 else 0
        order = jobs[k0:] + jobs[:k0]
        for key, argv in order:
            s = runner.run(argv)
            if r >= 0:
                res[key].append(s)
    return res


def check_samples(res, what):
    bad = {}
    for key, ss in res.items():
        fails = [s for s in ss if not (s["status"] == 0 and s["first"].startswith("IMAP OK"))]
        if fails:
            bad[key] = {"failed": len(fails), "of": len(ss), "first": fails[0]["first"],
                        "status": fails[0]["status"]}
            log(f"{what}: {key}: {len(fails)}/{len(ss)} runs not OK: exit {fails[0]['status']}: {fails[0]['first']}")
    return bad


def strip(ss):
    return [{k: v for k, v in s.items() if k != "stdout"} for s in ss]


def section_cost(runner, contenders, fx, n):
    jobs = [(c.name, c.argv(fx["DOVECOT_IMAPS_PORT"])) for c in contenders]
    log(f"cost: {len(jobs)} contenders x {n} rounds, interleaved")
    res = interleaved(runner, jobs, n)
    out = {"argv": {k: a for k, a in jobs}, "bad": check_samples(res, "cost"), "samples": {},
           "summary": {}, "steps": {}, "values": {}}
    for k, ss in res.items():
        out["samples"][k] = strip(ss)
        out["summary"][k] = {m: summarize(ss, m) for m in ("wall_ms", "cpu_ms", "rss_kb", "minflt")}
        last = ss[-1]["stdout"]
        out["steps"][k] = steps_of(last)
        out["values"][k] = {x: v for x, v in perf_values(last).items()
                            if x in ("messages", "unseen", "recent", "matched", "size", "round_trips")}
        m = re.search(r"\b(TLSv1(?:\.\d)?|SSLv3)\b", last)
        out.setdefault("tls", {})[k] = m.group(1) if m else "-"
        out.setdefault("example", {})[k] = last
    return out


STEP_NAMES = ["resolve", "connect", "tls", "greeting", "capability", "starttls", "auth",
              "namespace", "list", "examine", "select", "search", "fetch", "store", "expunge",
              "append", "logout"]


def steps_of(text):
    pv = perf_values(text)
    return [s for s in pv if s in STEP_NAMES]


def make_trust_dirs(fx, work):
    """A hashed CA directory (the system's /etc/ssl/certs links plus the
    fixture CA, rehashed) and a bundle (the system bundle plus the fixture
    CA): the system trust store as the probe would use it, but able to
    verify the fixture's certificate."""
    capath = os.path.join(work, "capath")
    if os.path.isdir(capath):
        shutil.rmtree(capath)
    os.makedirs(capath)
    n = 0
    for name in sorted(os.listdir("/etc/ssl/certs")):
        p = os.path.join("/etc/ssl/certs", name)
        if name.endswith(".pem") and os.path.isfile(p):
            os.symlink(os.path.realpath(p), os.path.join(capath, name))
            n += 1
    shutil.copy(fx["DOVECOT_CA"], os.path.join(capath, "cis-bench-fixture-ca.pem"))
    subprocess.run(["openssl", "rehash", capath], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    bundle = os.path.join(work, "bundle.pem")
    sysb = "/etc/ssl/certs/ca-certificates.crt"
    with open(bundle, "wb") as out:
        with open(sysb, "rb") as f:
            out.write(f.read())
        with open(fx["DOVECOT_CA"], "rb") as f:
            out.write(b"\n" + f.read())
    with open(sysb, "rb") as f:
        nb = f.read().count(b"BEGIN CERTIFICATE")
    return capath, bundle, n, nb


def section_rss(contenders, fx, preload, rounds, tmp):
    """Where the peak RSS is: private (anon) vs shared library pages (file),
    from /proc/self at exit (rss-at-exit.so)."""
    out = {}
    f = os.path.join(tmp, "rss.out")
    env = dict(os.environ, LD_PRELOAD=preload, CIS_RSS_OUT=f)
    rows = {c.name: [] for c in contenders}
    for _ in range(rounds):
        for c in contenders:
            if os.path.exists(f):
                os.unlink(f)
            subprocess.run(c.argv(fx["DOVECOT_IMAPS_PORT"]), env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
            try:
                with open(f) as fh:
                    kv = dict(x.split("=") for x in fh.read().split())
                rows[c.name].append({k: int(v) for k, v in kv.items()})
            except (OSError, ValueError):
                pass
    for name, rs in rows.items():
        if rs:
            out[name] = {k: med([r[k] for r in rs]) for k in rs[0]}
    return out


def section_trust(runner, probes, fx, n, work):
    capath, bundle, ndir, nbundle = make_trust_dirs(fx, work)
    variants = [
        ("insecure", ["--insecure"], "no trust store at all (--insecure): the floor"),
        ("cafile", ["--cafile", fx["DOVECOT_CA"]], "--cafile with the one CA needed"),
        ("capath", ["--capath", capath],
         f"--capath: hashed directory, the {ndir} system CAs + the fixture CA "
         "(what the default system store is for OpenSSL: a lazy hashed lookup)"),
        ("bundle", ["--cafile", bundle],
         f"--cafile with the full system bundle ({nbundle} CAs) + the fixture CA "
         "(what SSL_CTX_set_default_verify_paths or mbedTLS's default parses)"),
    ]
    jobs = []
    for c in probes:
        for v, extra, _ in variants:
            jobs.append((f"{c.name} {v}", c.argv(fx["DOVECOT_IMAPS_PORT"], "implicit", extra)))
    log(f"trust: {len(jobs)} variants x {n} rounds, interleaved")
    res = interleaved(runner, jobs, n)
    out = {"variants": [(v, d) for v, _, d in variants], "argv": dict(jobs),
           "bad": check_samples(res, "trust"), "samples": {}, "summary": {}, "ir": {}}
    for k, ss in res.items():
        out["samples"][k] = strip(ss)
        out["summary"][k] = {m: summarize(ss, m) for m in ("wall_ms", "cpu_ms", "rss_kb")}
    # instructions are deterministic where CPU time is not: one callgrind
    # run per variant
    if shutil.which("valgrind"):
        for k, argv in jobs:
            out["ir"][k] = callgrind_total(argv, work)
    return out


def callgrind_total(argv, tmp):
    f = os.path.join(tmp, "callgrind.total")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + f] + argv,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    try:
        with open(f) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def section_rtt(runner, proxies, contenders, fx, delay, runs):
    cal = proxies.calibrate([0, delay])
    per_rt = cal[delay] - cal[0]
    log(f"rtt: one round trip through the proxy adds {per_rt:.2f} ms at delay {delay} ms "
        f"(echo RTT {cal[0]:.2f} ms at 0, {cal[delay]:.2f} ms at {delay})")
    jobs = []
    for c in contenders:
        for mode in c.modes:
            target = fx["DOVECOT_IMAPS_PORT"] if mode == "implicit" else fx["DOVECOT_IMAP_PORT"]
            for d in (0, delay):
                port = proxies.port(int(target), d)
                warm(c, port, mode)
                jobs.append(((c.name, mode, d), c.argv(port, mode)))
    log(f"rtt: {len(jobs)} jobs x {runs} rounds (delay 0 and {delay} ms), interleaved")
    res = interleaved(runner, [(k, a) for k, a in jobs], runs)
    bad = check_samples({" ".join(map(str, k)): v for k, v in res.items()}, "rtt")
    out = {"delay_ms": delay, "bad": bad, "rows": [], "echo_rtt_ms": cal, "per_rt_ms": per_rt}
    for c in contenders:
        for mode in c.modes:
            w0 = [s["wall_ms"] for s in res[(c.name, mode, 0)]]
            wd = [s["wall_ms"] for s in res[(c.name, mode, delay)]]
            # Load from other processes only ever adds time, so the fastest
            # run at each delay is the best estimate of the session's own
            # wall time; the medians are shown next to it as a check.
            est = (min(wd) - min(w0)) / per_rt
            est_med = (med(wd) - med(w0)) / per_rt
            out["rows"].append({
                "contender": c.name, "mode": mode,
                "wall0_ms": min(w0), "walld_ms": min(wd), "wall0_med_ms": med(w0), "walld_med_ms": med(wd),
                "estimate": est, "estimate_median": est_med,
                "proxy_rt": round(est), "round_trips": round(est) + 1,
                "samples0": w0, "samplesd": wd,
                "steps": steps_of(res[(c.name, mode, delay)][-1]["stdout"]),
                "reported": perf_values(res[(c.name, mode, delay)][-1]["stdout"]).get("round_trips"),
            })
    return out


WAIT_CALLS = ("poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "read",
              "recvfrom", "recvmsg", "connect", "nanosleep", "clock_nanosleep")


def parse_strace(path, threshold_s):
    long_waits = []
    calls = 0
    rx = re.compile(r"^(?:\d+\s+)?(?:<\.\.\. (\w+) resumed>|(\w+)\().*<(\d+\.\d+)>\s*$")
    with open(path, errors="replace") as f:
        for line in f:
            m = rx.match(line.rstrip("\n"))
            if not m:
                continue
            name = m.group(1) or m.group(2)
            dur = float(m.group(3))
            calls += 1
            if dur >= threshold_s:
                long_waits.append((name, round(dur * 1000, 1)))
    return calls, long_waits


def section_waits(proxies, contenders, fx, delay, tmp):
    strace = shutil.which("strace")
    if not strace:
        return {"error": "strace not installed"}
    out = {"delay_ms": delay, "rows": []}
    for c in contenders:
        for mode in c.modes:
            target = fx["DOVECOT_IMAPS_PORT"] if mode == "implicit" else fx["DOVECOT_IMAP_PORT"]
            port = proxies.port(int(target), delay)
            warm(c, port, mode)
            warm(c, int(target), mode)
            trace = os.path.join(tmp, "strace.out")
            argv = [strace, "-f", "-qq", "-T", "-e", "trace=" + ",".join(WAIT_CALLS), "-o", trace, "--"] + c.argv(port, mode)
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60)
            calls, waits = parse_strace(trace, delay / 1000.0)
            # Nagle / delayed-ACK stalls (40 ms on Linux) would show as long
            # waits without any added delay: one run straight to Dovecot
            direct = fx["DOVECOT_IMAPS_PORT"] if mode == "implicit" else fx["DOVECOT_IMAP_PORT"]
            argv0 = [strace, "-f", "-qq", "-T", "-e", "trace=" + ",".join(WAIT_CALLS), "-o", trace, "--"] + \
                c.argv(direct, mode)
            subprocess.run(argv0, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            _, stalls = parse_strace(trace, 0.030)
            says = None
            if c.kind == "probe":
                # the probe's own count, if it reports one (perfdata or a
                # -vv info line named round_trips)
                q = subprocess.run(c.argv(port, mode) + ["-vv"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, timeout=60)
                m = re.search(r"round_trips'?\s*[:=]\s*(\d+)", q.stdout)
                says = int(m.group(1)) if m else None
            out["rows"].append({"contender": c.name, "mode": mode, "status": p.returncode, "probe_says": says,
                                "first": p.stdout.split("\n", 1)[0][:200],
                                "traced_calls": calls, "long_waits": waits,
                                "waits": len(waits), "round_trips": len(waits) + 1,
                                "stalls": stalls})
    return out


def detect_pipeline(runner, binary, base_argv):
    """--pipeline counts as available when the probe accepts it and the
    session ends OK; otherwise the reason is returned."""
    s = runner.run(base_argv + ["--pipeline"])
    text = s["stdout"].lower()
    if s["status"] != 0 or not s["first"].startswith("IMAP OK"):
        return False, f"exit {s['status']}: {s['first'][:200]}"
    if "not implemented" in text or "not supported" in text or "ignored" in text:
        return False, s["first"][:200]
    return True, ""


def section_profile(probes, ref, fx, tmp):
    vg = shutil.which("valgrind")
    if not vg:
        return {"error": "valgrind not installed"}
    out = {}
    targets = [(c.name, c.argv(fx["DOVECOT_IMAPS_PORT"])) for c in probes]
    targets.append((ref.name, ref.argv(fx["DOVECOT_IMAPS_PORT"])))
    for name, argv in targets:
        f = os.path.join(tmp, "callgrind." + re.sub(r"\W+", "_", name))
        p = subprocess.run([vg, "--tool=callgrind", "--callgrind-out-file=" + f] + argv,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        first = p.stdout.split("\n", 1)[0]
        incl = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", f],
                              stdout=subprocess.PIPE, text=True).stdout
        excl = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", f],
                              stdout=subprocess.PIPE, text=True).stdout
        total, inc_rows = parse_annotate(incl)
        _, exc_rows = parse_annotate(excl)
        by_obj = {}
        for ir, fn, obj in exc_rows:
            by_obj[obj] = by_obj.get(obj, 0) + ir
        marks = []
        for mark, what in LANDMARKS:
            for ir, fn, obj in inc_rows:
                if fn.endswith(":" + mark) or fn == mark:
                    marks.append((what, mark, ir))
                    break
        out[name] = {"status": p.returncode, "first": first, "total_ir": total, "landmarks": marks,
                     "inclusive": inc_rows[:60], "by_object": sorted(by_obj.items(), key=lambda x: -x[1]),
                     "exclusive": exc_rows[:40], "file": f}
    return out


# Functions that name a cost centre: (function, what it is)
LANDMARKS = [
    ("_dl_start", "dynamic linking and relocation (ld.so)"),
    ("main", "main() (everything after ld.so)"),
    ("OPENSSL_init_ssl", "OpenSSL library initialisation"),
    ("CONF_modules_load_file_ex", "reading openssl.cnf"),
    ("SSL_CTX_new", "SSL_CTX_new (OpenSSL 3 fetches every cipher/digest from the provider)"),
    ("EVP_CIPHER_fetch", "  of which EVP_CIPHER_fetch (method store construction)"),
    ("SSL_CTX_load_verify_locations", "loading --cafile"),
    ("SSL_CTX_set_default_verify_paths", "loading the default trust store"),
    ("SSL_connect", "the TLS handshake (SSL_connect)"),
    ("d2i_X509", "decoding X.509 certificates (all callers)"),
    ("OSSL_DECODER_CTX_new_for_pkey", "  of which public-key decoder set-up (OpenSSL 3.0)"),
    ("X509_verify_cert", "certificate chain verification"),
    ("ECDSA_verify", "ECDSA signature verification"),
    ("SSL_read", "SSL_read (IMAP traffic)"),
    ("SSL_write", "SSL_write (IMAP traffic)"),
    ("mbedtls_x509_crt_parse_file", "loading --cafile (mbedTLS)"),
    ("mbedtls_ssl_handshake", "the TLS handshake (mbedtls_ssl_handshake)"),
    ("mbedtls_ecp_mul_restartable", "  of which EC point multiplication"),
    ("mbedtls_x509_crt_verify_restartable", "  of which certificate chain verification"),
    ("mbedtls_ssl_read", "mbedtls_ssl_read (IMAP traffic)"),
    ("imap_conn_greeting", "IMAP greeting"),
    ("sess_auth", "authentication step"),
    ("sess_mailbox_steps", "mailbox steps"),
    ("report_render", "output rendering"),
]


def parse_annotate(text):
    total = 0
    rows = []
    m = re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", text, re.M)
    if m:
        total = int(m.group(1).replace(",", ""))
    rx = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*?)(?: \[(.+)\])?\s*$")
    body = text.split("file:function", 1)[-1]
    for line in body.splitlines():
        mm = rx.match(line)
        if not mm:
            continue
        ir = int(mm.group(1).replace(",", ""))
        fn = mm.group(2)
        obj = os.path.basename(mm.group(3)) if mm.group(3) else "?"
        rows.append((ir, fn, obj))
    return total, rows


# ------------------------------------------------------------------ machine

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True).stdout.strip()
    except OSError:
        return ""


def machine_info():
    cpu = sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1")
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": sh("free -m | awk '/^Mem:/{print $2\" MB\"}'"),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "openssl": sh("openssl version"),
        "mbedtls": sh("dpkg-query -W -f='${Version}' libmbedtls-dev"),
        "dovecot": sh("dovecot --version"),
        "monitoring-plugins-basic": sh("dpkg-query -W -f='${Version}' monitoring-plugins-basic"),
        "python": platform.python_version(),
        "load": "load average at start " + " ".join(open("/proc/loadavg").read().split()[:3]),
        "source": sh(f"cd {shlex.quote(TOP)} && git rev-parse --short HEAD 2>/dev/null")
                  + (" + uncommitted changes" if sh(f"cd {shlex.quote(TOP)} && git status --porcelain -- probes plugin configure.ac Makefile.am 2>/dev/null") else ""),
    }
    return info


# ------------------------------------------------------------------ report

def fmt_range(s, scale=1.0, prec=1):
    return f"{s['median'] * scale:.{prec}f} ({s['min'] * scale:.{prec}f}-{s['max'] * scale:.{prec}f})"


def report(data, backend=None):
    """The text report: everything, or the reference plus one backend."""
    L = []
    mi = data["machine"]
    want = lambda name: backend is None or name.startswith(backend) or name == data["ref"]
    L.append(f"check_imap_session benchmark (bench/run.sh) - {mi['date']}")
    L.append("")
    for k in ("cpu", "memory", "kernel", "os", "openssl", "mbedtls", "dovecot", "monitoring-plugins-basic", "source",
              "load"):
        L.append(f"  {k:26s} {mi.get(k, '')}")
    L.append(f"  {'command':26s} {data['command']}")
    if data.get("env_cleared"):
        L.append(f"  {'environment':26s} unset for the runs: " + ", ".join(data["env_cleared"]))
    L.append("")
    L.append("Session: " + data["session"])
    L.append("Reference: " + data["ref_argv"])
    for b, note in data.get("backend_notes", {}).items():
        if backend is None or b == backend:
            L.append(f"Note ({b}): {note}")
    if data.get("pipeline"):
        for b, (ok, why) in data["pipeline"].items():
            if backend is None or b == backend:
                L.append(f"--pipeline ({b}): {'available' if ok else 'not available (' + why + ')'}")
    L.append("")

    cost = data.get("cost")
    if cost:
        ref = data["ref"]
        rs = cost["summary"][ref]
        L.append(f"== Cost per run: median (min-max) of {rs['wall_ms']['n']} interleaved runs, straight to Dovecot")
        L.append(f"{'contender':28s} {'wall ms':>22s} {'CPU ms (user+sys)':>22s} {'peak RSS MB':>20s}   wall  CPU   RSS (x ref)"
                 "  page faults")
        for k, s in cost["summary"].items():
            if not want(k):
                continue
            r = lambda m: s[m]["median"] / rs[m]["median"] if rs[m]["median"] else float("nan")
            L.append(f"{k:28s} {fmt_range(s['wall_ms']):>22s} {fmt_range(s['cpu_ms'], prec=2):>22s} "
                     f"{fmt_range(s['rss_kb'], 1 / 1024, 2):>20s}   {r('wall_ms'):.2f} {r('cpu_ms'):.2f} {r('rss_kb'):.2f}"
                     + (f"  {s['minflt']['median']:11.0f}" if "minflt" in s else ""))
        for k, b in cost["bad"].items():
            if want(k):
                L.append(f"  !! {k}: {b['failed']}/{b['of']} runs failed: exit {b['status']}: {b['first']}")
        L.append("")
        L.append("TLS version, steps each contender ran (perfdata labels) and the values it reported:")
        for k in cost["steps"]:
            if want(k):
                vals = ", ".join(f"{x} {v:g}" for x, v in cost["values"][k].items())
                L.append(f"  {k:28s} {cost.get('tls', {}).get(k, '-'):8s} {' '.join(cost['steps'][k]) or '-'}"
                         + (f"   ({vals})" if vals else ""))
        for note in data.get("session_notes", []):
            if backend is None or note.startswith(backend):
                L.append("  note: " + note)
        L.append("")

    rs = data.get("rss")
    if rs:
        L.append("== Peak RSS split (kB, median of 7 runs, /proc/self at exit via rss-at-exit.so; hwm = peak):")
        L.append("   anon = private memory of this process (heap, stack, .bss, relocated library data);")
        L.append("   file = shared library pages mapped from the page cache (shared by every process using them)")
        L.append(f"{'contender':28s} {'hwm':>6s} {'anon':>6s} {'file':>6s} {'heap':>6s} {'stack':>6s} {'bss':>6s}")
        for k, r in rs.items():
            if want(k):
                L.append(f"{k:28s} {r['hwm_kb']:6.0f} {r['anon_kb']:6.0f} {r['file_kb']:6.0f} {r['heap_kb']:6.0f} "
                         f"{r['stack_kb']:6.0f} {r['bss_kb']:6.0f}")
        L.append("")

    tr = data.get("trust")
    if tr:
        L.append("== Trust store loading: the same session, CPU ms median (min-max), delta vs --cafile (one CA)")
        for v, d in tr["variants"]:
            L.append(f"  {v:9s} {d}")
        L.append(f"{'contender':28s} {'CPU ms':>22s} {'delta':>8s} {'instructions':>13s} {'delta':>11s} "
                 f"{'wall ms':>22s} {'peak RSS MB':>20s}")
        for k, s in tr["summary"].items():
            if not want(k):
                continue
            bk = k.rsplit(" ", 1)[0] + " cafile"
            base = tr["summary"].get(bk)
            delta = s["cpu_ms"]["median"] - base["cpu_ms"]["median"] if base else float("nan")
            ir, bir = tr.get("ir", {}).get(k), tr.get("ir", {}).get(bk)
            irs = f"{ir:13,}" if ir else f"{'-':>13s}"
            dirs = f"{ir - bir:+11,}" if ir and bir else f"{'-':>11s}"
            L.append(f"{k:28s} {fmt_range(s['cpu_ms'], prec=2):>22s} {delta:+8.2f} {irs} {dirs} "
                     f"{fmt_range(s['wall_ms']):>22s} {fmt_range(s['rss_kb'], 1 / 1024, 2):>20s}")
        for k, b in tr["bad"].items():
            if want(k):
                L.append(f"  !! {k}: {b['failed']}/{b['of']} runs failed: exit {b['status']}: {b['first']}")
        L.append("")

    rt = data.get("rtt")
    if rt:
        D = rt["delay_ms"]
        L.append(f"== Round trips through rtt-proxy.py, one-way delay {D} ms each direction "
                 f"({data['rtt_runs']} interleaved runs per cell)")
        L.append(f"   round trips = round((fastest wall at D - fastest wall at 0) / RT) + 1, where RT = {rt['per_rt_ms']:.2f} ms is what one "
                 f"round trip through the proxy adds (measured: 2D = {2 * D} ms plus the proxy's own "
                 f"{rt['per_rt_ms'] - 2 * D:.2f} ms),")
        L.append("   and + 1 is the TCP handshake: the kernel completes it before the proxy's accept(), so the proxy "
                 "cannot delay it (the same +1 for every client)")
        L.append("   issue 8's targets for the session (implicit TLS 1.3): 8 one command at a time, at most 4 with --pipeline (here with --cache-dir, measured after its first run)")
        L.append("   (the fastest run: load from other processes only adds time; the same from the medians is shown "
                 "as a check, ! where the two round differently)")
        L.append(f"{'contender':28s} {'mode':9s} {'wall@0 ms':>10s} {'wall@D ms':>10s} {'(D-0)/RT':>9s} {'median':>7s} "
                 f"{'round trips':>11s}   steps")
        for r in rt["rows"]:
            if want(r["contender"]):
                rep = f"  (probe says {r['reported']:.0f})" if r.get("reported") is not None else ""
                em = r.get("estimate_median", r["estimate"])
                flag = "!" if round(em) != round(r["estimate"]) else " "
                L.append(f"{r['contender']:28s} {r['mode']:9s} {r['wall0_ms']:10.1f} {r['walld_ms']:10.1f} "
                         f"{r['estimate']:9.2f} {em:6.2f}{flag} {r['round_trips']:11d}   {' '.join(r['steps'])}{rep}")
        for k, b in rt["bad"].items():
            if backend is None or k.startswith(backend) or k.startswith(data["ref"]):
                L.append(f"  !! {k}: {b['failed']}/{b['of']} runs failed: exit {b['status']}: {b['first']}")
        L.append("")

    wt = data.get("waits")
    if wt and "rows" in wt:
        L.append(f"== Cross-check: client waits (strace -f -T: system calls that blocked >= {wt['delay_ms']} ms at delay "
                 f"{wt['delay_ms']} ms), + 1 TCP handshake;")
        L.append("   and waits >= 30 ms straight to Dovecot (no delay): a Nagle/delayed-ACK stall (40 ms) would show there")
        for r in wt["rows"]:
            if want(r["contender"]):
                ws = " ".join(f"{n}:{d:g}" for n, d in r["long_waits"])
                says = r.get("probe_says")
                says = "-" if says is None else str(says)
                st = r.get("stalls", [])
                L.append(f"{r['contender']:28s} {r['mode']:9s} waits {r['waits']:2d} -> round trips {r['round_trips']:2d}"
                         f"   probe's own round_trips: {says:>2s}   waits >= 30 ms at delay 0: {len(st)}   [{ws}]"
                         + ("" if r["status"] == 0 else f"  !! exit {r['status']}: {r['first']}"))
        L.append("")
    elif wt:
        L.append("== Cross-check: " + wt.get("error", ""))

    pr = data.get("profile")
    if pr and "error" not in pr:
        L.append("== Profile: valgrind --tool=callgrind, one session straight to Dovecot (instructions, Ir)")
        for name, p in pr.items():
            if not want(name):
                continue
            L.append(f"-- {name}: {p['total_ir']:,} Ir" + ("" if p["status"] == 0 else f"  (exit {p['status']}: {p['first']})"))
            if p.get("landmarks"):
                L.append("   cost centres (inclusive):")
                for what, fn, ir in p["landmarks"]:
                    L.append(f"     {ir / p['total_ir'] * 100:5.1f}%  {ir:>12,}  {what} [{fn}]")
            L.append("   by object (self cost):")
            for obj, ir in p["by_object"][:8]:
                L.append(f"     {ir / p['total_ir'] * 100:5.1f}%  {ir:>12,}  {obj}")
            L.append("   inclusive, >= 3%:")
            for ir, fn, obj in p["inclusive"]:
                pct = ir / p["total_ir"] * 100
                if pct < 3:
                    break
                L.append(f"     {pct:5.1f}%  {ir:>12,}  {fn}  [{obj}]")
        L.append("")
    elif pr:
        L.append("== Profile: " + pr["error"])

    if cost:
        L.append("== Raw samples (wall ms / CPU ms / peak RSS kB, in run order)")
        for k, ss in cost["samples"].items():
            if want(k):
                L.append(f"{k}:")
                L.append("  " + " ".join(f"{s['wall_ms']:.1f}/{s['cpu_ms']:.1f}/{s['rss_kb']}" for s in ss))
        if tr:
            for k, ss in tr["samples"].items():
                if want(k):
                    L.append(f"trust {k}:")
                    L.append("  " + " ".join(f"{s['wall_ms']:.1f}/{s['cpu_ms']:.1f}/{s['rss_kb']}" for s in ss))
        if rt:
            for r in rt["rows"]:
                if want(r["contender"]):
                    L.append(f"rtt {r['contender']} {r['mode']} wall ms at 0: " + " ".join(f"{x:.1f}" for x in r["samples0"]))
                    L.append(f"rtt {r['contender']} {r['mode']} wall ms at {rt['delay_ms']}: " + " ".join(f"{x:.1f}" for x in r["samplesd"]))
        L.append("")
        L.append("Example output of each contender (last run):")
        for k, t in cost.get("example", {}).items():
            if want(k):
                L.append(f"-- {k}:")
                L += ["   " + x for x in t.rstrip("\n").split("\n")[:14]]
    return "\n".join(L) + "\n"


def readme_table(data):
    """Markdown rows for README.md's Performance section."""
    cost, rt = data.get("cost"), data.get("rtt")
    ref = data["ref"]
    rs = cost["summary"][ref]
    rts = {}
    if rt:
        for r in rt["rows"]:
            rts[(r["contender"], r["mode"])] = r["round_trips"]
    L = ["| contender | session | CPU ms | x ref | peak RSS MB | x ref | wall ms | round trips (implicit TLS / STARTTLS) |",
         "|---|---|---:|---:|---:|---:|---:|---|"]
    for k, s in cost["summary"].items():
        what = "TLS banner only" if k == ref else "full session"
        rtxt = " / ".join(str(rts[(k, m)]) if (k, m) in rts else "-" for m in ("implicit", "starttls"))
        L.append(f"| {k} | {what} | {s['cpu_ms']['median']:.1f} | {s['cpu_ms']['median'] / rs['cpu_ms']['median']:.2f} "
                 f"| {s['rss_kb']['median'] / 1024:.1f} | {s['rss_kb']['median'] / rs['rss_kb']['median']:.2f} "
                 f"| {s['wall_ms']['median']:.1f} | {rtxt} |")
    return "\n".join(L) + "\n"


# ------------------------------------------------------------------ main

def write_reports(data, out_dir, results_dir, date):
    summary = report(data)
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(summary)
    if data.get("cost"):
        with open(os.path.join(out_dir, "readme-table.md"), "w") as f:
            f.write(readme_table(data))
    if results_dir:
        os.makedirs(results_dir, exist_ok=True)
        backends = data.get("backends") or [k for k in data.get("cost", {}).get("summary", {})
                                             if k != data["ref"] and " " not in k]
        for b in backends:
            p = os.path.join(results_dir, f"{date}-{b}.txt")
            with open(p, "w") as f:
                f.write(report(data, b))
            log("wrote " + os.path.relpath(p, TOP))
    return summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-json", help="only render the reports of an earlier run's bench.json")
    ap.add_argument("--env")
    ap.add_argument("--runstat")
    ap.add_argument("--probe", action="append", default=[], help="BACKEND=PATH")
    ap.add_argument("--ref", default="/usr/lib/nagios/plugins/check_imap")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--rtt-runs", type=int, default=9)
    ap.add_argument("--delay-ms", type=int, default=25)
    ap.add_argument("--sections", default="cost,rss,trust,rtt,waits,profile")
    ap.add_argument("--rss-preload", help="path of rss-at-exit.so")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--results-dir")
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    ap.add_argument("--command", default="bench/run.sh")
    ap.add_argument("--backend-note", action="append", default=[], help="BACKEND=TEXT")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            data = json.load(f)
        os.makedirs(args.out_dir, exist_ok=True)
        sys.stdout.write(write_reports(data, args.out_dir, args.results_dir,
                                       data.get("date", args.date)))
        return 0
    if not args.env or not args.runstat:
        ap.error("--env and --runstat are required")

    fx = load_env(args.env)
    # A monitoring daemon does not set these; some shells do (this machine's
    # sets SSL_CERT_FILE, which makes OpenSSL-style clients, the probe
    # included, parse the whole bundle: +15 ms CPU).  Measure without them.
    cleared = {}
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR", "NIX_SSL_CERT_FILE", "OPENSSL_CONF", "OPENSSL_MODULES"):
        if var in os.environ:
            cleared[var] = os.environ.pop(var)
    if cleared:
        log("unset for the measurements: " + ", ".join(f"{k}={v}" for k, v in cleared.items()))
    os.makedirs(args.out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="cis-bench.")
    pwfile = os.path.join(tmp, "password")
    with open(pwfile, "w") as f:
        f.write(fx["DOVECOT_PASS"] + "\n")
    os.chmod(pwfile, 0o600)
    runner = Runner(args.runstat, tmp)
    sections = set(args.sections.split(","))

    ref = Contender("check_imap -S", "ref", None, ref_argv(args.ref), ["implicit"])
    probes, seq = [], []
    pipeline = {}
    for spec in args.probe:
        b, path = spec.split("=", 1)
        c = Contender(b, "probe", b, probe_argv(path, fx, pwfile, False), ["implicit", "starttls"])
        probes.append(c)
        seq.append(c)
        ok, why = detect_pipeline(runner, path, c.argv(fx["DOVECOT_IMAPS_PORT"]))
        pipeline[b] = (ok, why)
        log(f"--pipeline with {b}: {'available' if ok else 'not available: ' + why}")
        if ok:
            cdir = os.path.join(tmp, "capcache-" + b)
            os.makedirs(cdir, exist_ok=True)
            pc = Contender(f"{b} --pipeline", "probe", b, probe_argv(path, fx, pwfile, True, cdir),
                           ["implicit", "starttls"])
            for mode in pc.modes:
                warm(pc, fx["DOVECOT_IMAPS_PORT"] if mode == "implicit" else fx["DOVECOT_IMAP_PORT"], mode)
            probes.append(pc)
    contenders = [ref] + probes

    data = {
        "machine": machine_info(),
        "command": args.command,
        "ref": ref.name,
        "ref_argv": " ".join(ref.argv("PORT")),
        "session": ("implicit TLS (TLS 1.3 where the backend has it), greeting, AUTHENTICATE PLAIN, "
                    "EXAMINE INBOX, SEARCH UNSEEN, FETCH headers of one message, LOGOUT: "
                    + " ".join(["check_imap_session"] + seq[0].argv("PORT")[1:]).replace(pwfile, "PWFILE")
                    if seq else ""),
        "pipeline": pipeline,
        "backend_notes": dict(x.split("=", 1) for x in args.backend_note),
        "rtt_runs": args.rtt_runs,
        "session_notes": [],
        "env_cleared": cleared,
    }
    proxies = Proxies(os.path.join(HERE, "rtt-proxy.py"), tmp, lifetime=1800)
    try:
        if "cost" in sections:
            data["cost"] = section_cost(runner, contenders, fx, args.n)
            for c in probes:
                v = data["cost"].get("tls", {}).get(c.name, "?")
                if v not in ("TLSv1.3", "?") and "--pipeline" not in c.name:
                    data["backend_notes"].setdefault(
                        c.backend, f"negotiated {v}, not TLS 1.3: this build of the library has no TLS 1.3 "
                        "(mbedTLS 2.28 as in Debian 12), so its handshake takes 2 round trips instead of 1 "
                        "(the greeting then travels with the server's Finished)")
                st = data["cost"]["steps"][c.name]
                missing = [x for x in ("tls", "greeting", "auth", "examine", "search", "fetch", "logout") if x not in st]
                if missing:
                    data["session_notes"].append(
                        f"{c.name}: no {'/'.join(missing)} step in the output: the session ran is not the full "
                        "target session (not implemented yet?), so its numbers understate a full one")
                if "--pipeline" in c.name:
                    base = data["cost"]["values"].get(c.backend, {})
                    mine = data["cost"]["values"].get(c.name, {})
                    same = {k: v for k, v in base.items() if k != "round_trips"} == \
                           {k: v for k, v in mine.items() if k != "round_trips"}
                    fmt = lambda d: ", ".join(f"{k} {v:g}" for k, v in sorted(d.items()))
                    data["session_notes"].append(
                        f"{c.name}: results {'identical to' if same else 'DIFFER from'} the sequential mode "
                        f"({fmt(mine)}" + ("" if same else f" vs {fmt(base)}") + ")")
        if "rss" in sections and args.rss_preload:
            log("rss: private vs shared pages at exit")
            data["rss"] = section_rss(contenders, fx, args.rss_preload, 7, tmp)
        if "trust" in sections:
            data["trust"] = section_trust(runner, seq, fx, args.n, tmp)
        if "rtt" in sections:
            data["rtt"] = section_rtt(runner, proxies, contenders, fx, args.delay_ms, args.rtt_runs)
        if data.get("rtt"):
            rows = {(r["contender"], r["mode"]): r for r in data["rtt"]["rows"]}
            for c in probes:
                if "--pipeline" not in c.name:
                    continue
                for mode in c.modes:
                    p, q = rows.get((c.name, mode)), rows.get((c.backend, mode))
                    if p and q and p["round_trips"] >= q["round_trips"]:
                        data["session_notes"].append(
                            f"{c.name} ({mode}): accepted, but no fewer round trips than the sequential mode "
                            f"({p['round_trips']} vs {q['round_trips']}): pipelining not implemented yet?")
        if "waits" in sections:
            data["waits"] = section_waits(proxies, contenders, fx, args.delay_ms, tmp)
        if "profile" in sections:
            log("profile: callgrind")
            data["profile"] = section_profile(seq, ref, fx, tmp)
    finally:
        proxies.stop()
        if sys.exc_info()[0] is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    data["machine"]["load"] += ", at end " + " ".join(open("/proc/loadavg").read().split()[:3])
    data["backends"] = [c.backend for c in seq]
    data["date"] = args.date
    with open(os.path.join(args.out_dir, "bench.json"), "w") as f:
        json.dump(data, f, indent=1, default=str)
    sys.stdout.write(write_reports(data, args.out_dir, args.results_dir, args.date))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
