"""Throughput of the face pipeline (envs.faces prepare): images/second on folders of 256 px
and 1024 px JPEG photos made from the embedded faces (astronaut, grace_hopper, LFW).

    python benchmarks/faces_prepare.py [--n 100] [--sides 256 1024] [--workers N] [--repeat 5]
    python benchmarks/faces_prepare.py --large 20000 [--workdir DIR]   # dataset-size case
    python benchmarks/faces_prepare.py --distributed 2000               # two local Ray nodes

The large case (a folder from benchmarks/make_face_folder.py) runs the CLI three times in
fresh processes: a full prepare (wall time, CPU time, peak RSS), a prepare SIGKILLed once half
of its shards are on disk, and the re-run that finishes it (it must reuse those shards and give
the same set); then an env over the cache: resident memory beyond the shared mapping, and
steps/s beside the same faces held in RAM (interleaved rounds in one process).

Reports, per size: the first prepare() call in the process (creates the detectors on the
first size, writes the cache), then warm calls (detectors reused, cache bypassed: best and
median of --repeat), the CPU time per image (process-wide, so it includes mediapipe's own
threads), the CLI end to end (a fresh `python -m envs.faces prepare`: interpreter start,
imports, detector start, cache write) and the time to load the written cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_face_folder  # noqa: E402  (after the sys.path lines above)

from envs.faces import load_faces, prepare  # noqa: E402
from envs.faces.pipeline import Settings, default_workers  # noqa: E402


def make_folder(folder: str, n: int, side: int, seed: int = 0) -> None:
    """n JPEGs with longer side `side`: random crops/flips of the embedded faces (no jitter,
    as in the figures recorded before the large case)."""
    make_face_folder.make_folder(folder, n, (side, side), seed, jitter=False)


ENV_CHECK = """
import json, statistics, sys, time
import gymnasium as gym, numpy as np
sys.path.insert(0, {root!r})
import envs  # noqa
from envs.faces import FaceSet, load_faces

def status():
    out = {{}}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("RssAnon", "RssFile", "RssShmem", "VmRSS"):
            out[k] = int(v.split()[0]) / 1024
    return out

def run(env, n, policy):
    rng = np.random.default_rng(0)
    t0 = time.process_time() if CPU else time.perf_counter()
    resets = 0
    for i in range(n):
        a = i % 6 if policy == "moves" else int(rng.integers(7))
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset(); resets += 1
    return ((time.process_time() if CPU else time.perf_counter()) - t0) / n, resets

CPU = {cpu}
base = status()
faces = load_faces({cache!r})
env = gym.make("FaceFusion-v0", faces=faces, split="train")
env.reset(seed=0)
opened = status()
run(env, {steps}, "moves"); run(env, {steps}, "random")
after = status()
mem = {{"n_faces": len(faces), "train_faces": len(env.unwrapped.faces), "before_env": base, "env_made": opened,
        "after_steps": after, "anon_growth_mb": after["RssAnon"] - base["RssAnon"]}}
tr = faces.split("train")
ram = FaceSet(np.asarray(tr.images), np.asarray(tr.masks), np.asarray(tr.landmarks), tr.keypoints, tr.boxes,
              tr.files, tr.backends)
env_ram = gym.make("FaceFusion-v0", faces=ram, split="all")
env_ram.reset(seed=0)
ram_obs = FaceSet(ram.images, ram.masks, ram.landmarks, ram.keypoints, ram.boxes, ram.files, ram.backends,
                  {{s: np.asarray(a) for s, a in tr.obs.items()}})
env_ram_obs = gym.make("FaceFusion-v0", faces=ram_obs, split="all")
env_ram_obs.reset(seed=0)
speed = {{}}
for policy in ("moves", "random"):
    mm, rm, ro = [], [], []
    for _ in range({rounds}):
        mm.append(run(env, {steps}, policy)[0]); rm.append(run(env_ram, {steps}, policy)[0])
        ro.append(run(env_ram_obs, {steps}, policy)[0])
    speed[policy] = {{"mmap_steps_per_s": round(1 / statistics.median(mm)), "ram_steps_per_s": round(1 / statistics.median(rm)),
                      "ratio_median": round(statistics.median(r / m for m, r in zip(mm, rm)), 3),
                      "ratios": [round(r / m, 3) for m, r in zip(mm, rm)],
                      "ram_obs_steps_per_s": round(1 / statistics.median(ro)),
                      "ratio_obs_median": round(statistics.median(r / m for m, r in zip(mm, ro)), 3),
                      "ratios_obs": [round(r / m, 3) for m, r in zip(mm, ro)]}}
print(json.dumps({{"memory": mem, "speed": speed}}))
"""


def run_cli(cmd: list[str], kill=None) -> dict:
    """Run cmd in a fresh process: wall s, CPU s and peak RSS MB (from wait4), output; `kill`
    is polled every 0.2 s and SIGKILLs the process when it returns True."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    killed = False
    while kill is not None and proc.poll() is None:
        if kill():
            os.killpg(proc.pid, signal.SIGKILL)  # the prepare process and its measuring parent
            killed = True
            break
        time.sleep(0.2)
    out, err = proc.communicate()
    return {
        "wall": time.perf_counter() - t0,
        "rc": proc.returncode,
        "killed": killed,
        "out": out.decode(errors="replace"),
        "err": err.decode(errors="replace"),
    }


def _manifest(cache: str) -> dict:
    for n in os.listdir(cache) if os.path.isdir(cache) else []:
        if n.startswith(".build-"):
            try:
                with open(os.path.join(cache, n, "manifest.json"), encoding="utf-8") as f:
                    return json.load(f)
            except (OSError, ValueError):
                return {}
    return {}


def large(n: int, workdir: str, workers: int | None, env_steps: int, rounds: int) -> None:
    from envs.faces import cache as fcache

    folder = os.path.join(workdir, f"photos{n}")
    if not os.path.isdir(folder):
        t0 = time.perf_counter()
        counts = make_face_folder.make_folder(folder, n, bad=0.005)
        print(f"made {folder}: {counts} in {time.perf_counter() - t0:.0f} s")
    extra = ["--workers", str(workers)] if workers else []
    wrapper = [
        sys.executable,
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "faces_prepare.py"),
        "--measure-child",
        "--",
    ]
    caches = {k: os.path.join(workdir, f"cache_{k}") for k in ("full", "kill")}
    for c in caches.values():
        shutil.rmtree(c, ignore_errors=True)
    rows = {}
    for name, cache, kill in (
        ("full", caches["full"], None),
        (
            "killed half-way",
            caches["kill"],
            lambda: (m := _manifest(caches["kill"])) and len(m["shards"]) >= m["n_shards"] / 2,
        ),
        ("re-run", caches["kill"], None),
    ):
        cmd = [*wrapper, sys.executable, "-m", "envs.faces", "prepare", folder, "--out", cache, "--no-progress", *extra]
        r = run_cli(cmd, kill)
        stats = json.loads(r["err"].strip().splitlines()[-1]) if r["err"].strip() and not r["killed"] else {}
        done = rows["killed half-way"]["shards_on_disk"] if name == "re-run" else 0
        todo = n - min(n, done * 256)  # photos this run processed (shards of 256)
        if r["killed"]:
            m = _manifest(cache)
            stats = {"shards_on_disk": len(m.get("shards", {})), "n_shards": m.get("n_shards")}
        rows[name] = {**r, **stats}
        msg = [line for line in r["err"].splitlines() if line.startswith("resuming")]
        print(
            f"{name:16s}: wall {r['wall']:7.1f} s, rc {r['rc']}, "
            + (
                f"{todo} photos, {todo / r['wall']:6.1f} photos/s (wall, incl. start), CPU {stats['cpu_s']:.0f} s "
                f"({stats['cpu_s'] / todo * 1000:.1f} ms/photo = {2 * todo / stats['cpu_s']:.0f} photos/s on 2 free "
                "cores), "
                f"peak RSS {stats['maxrss_mb']:.0f} MB"
                if "cpu_s" in stats
                else f"{stats}"
            )
            + (f"\n                  {msg[0]}" if msg else "")
        )
        summary = [line for line in r["out"].splitlines() if not line.startswith("  skipped")]
        if summary:
            print("                  " + "\n                  ".join(summary))
    print("command of each run:", " ".join(cmd[len(wrapper) :]))
    # the resumed set equals the uninterrupted one
    (full_dir, _), (kill_dir, _) = fcache.complete_sets(caches["full"])[0], fcache.complete_sets(caches["kill"])[0]
    a, ra = fcache.load_set(full_dir)
    b, rb = fcache.load_set(kill_dir)
    rng = np.random.default_rng(0)
    sample = rng.choice(len(a), min(len(a), 300), replace=False)
    same = (
        a.files == b.files
        and np.array_equal(a.keypoints, b.keypoints)
        and ra["skipped"] == rb["skipped"]
        and all(np.array_equal(a.images[i], b.images[i]) and np.array_equal(a.masks[i], b.masks[i]) for i in sample)
    )
    print(
        f"resumed set == uninterrupted set (files, keypoints, skipped, 300 sampled images/masks): {same}; "
        f"re-run reused {rb['shards']['resumed']} of {rb['shards']['n']} shards; {len(b)} faces"
    )
    env_check(full_dir, env_steps, rounds)


def env_check(set_dir: str, env_steps: int, rounds: int, cpu: bool = False) -> None:
    """An env over a cached set in a fresh process: its memory, and steps/s beside the same
    train faces copied into RAM, without and with the stored observation-size arrays ("moves":
    50-step episodes; "random": random actions, ~7 steps an episode, so a face is fetched
    every few steps)."""
    code = ENV_CHECK.format(root=ROOT, cache=set_dir, steps=env_steps, rounds=rounds, cpu=cpu)
    print(f"env comparison timed by {'process CPU time' if cpu else 'wall clock'}")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    if r.returncode:
        print(r.stderr[-3000:])
        return
    res = json.loads(r.stdout.strip().splitlines()[-1])
    m = res["memory"]
    print(
        f"env over the cache ({m['train_faces']} train faces of {m['n_faces']}): process RssAnon "
        f"{m['before_env']['RssAnon']:.0f} MB after imports, {m['env_made']['RssAnon']:.0f} MB with the env, "
        f"{m['after_steps']['RssAnon']:.0f} MB after {2 * env_steps} steps (growth {m['anon_growth_mb']:.0f} MB); "
        f"mapped file pages resident {m['after_steps']['RssFile']:.0f} MB (shared page cache)"
    )
    for policy, sp in res["speed"].items():
        print(
            f"  steps/s ({policy}): mmap {sp['mmap_steps_per_s']}, in RAM {sp['ram_steps_per_s']}, "
            f"mmap/RAM median {sp['ratio_median']} (rounds {sp['ratios']}); in RAM with the stored "
            f"observations also in RAM {sp['ram_obs_steps_per_s']}, mmap/that {sp['ratio_obs_median']} "
            f"(rounds {sp['ratios_obs']})"
        )


def measure_child(cmd: list[str]) -> int:
    """Run cmd, then print its CPU seconds and peak RSS as JSON on stderr (for `large`)."""
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024}), file=sys.stderr)
    return os.waitstatus_to_exitcode(status)


def distributed(n: int, workdir: str, shard_size: int) -> None:
    """The same folder prepared locally and on a two-node local Ray cluster (1 CPU each)."""
    import ray
    from ray.cluster_utils import Cluster

    folder = os.path.join(workdir, f"photos{n}")
    if not os.path.isdir(folder):
        make_face_folder.make_folder(folder, n)
    local_cache, ray_cache = os.path.join(workdir, "dist_local"), os.path.join(workdir, "dist_ray")
    for c in (local_cache, ray_cache):
        shutil.rmtree(c, ignore_errors=True)
    t0 = time.perf_counter()
    loc = prepare(folder, local_cache, shard_size=shard_size)
    t_local = time.perf_counter() - t0
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        t0 = time.perf_counter()
        dist = prepare(folder, ray_cache, shard_size=shard_size, address=cluster.address)
        t_ray = time.perf_counter() - t0
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    same = (
        loc.faces.files == dist.faces.files
        and loc.report["skipped"] == dist.report["skipped"]
        and all(np.array_equal(loc.faces.images[i], dist.faces.images[i]) for i in range(len(loc.faces)))
    )
    print(
        f"{n} photos, shards of {shard_size}: local threads {t_local:.1f} s ({n / t_local:.0f} photos/s); "
        f"two Ray nodes x 1 CPU {t_ray:.1f} s ({n / t_ray:.0f} photos/s, incl. joining the cluster and worker "
        f"start); shards per node {sorted(dist.report['shards']['ray_nodes'].values())}; identical result: {same}"
    )


def main() -> None:
    if "--measure-child" in sys.argv:
        sys.exit(measure_child(sys.argv[sys.argv.index("--") + 1 :]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--sides", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--large", type=int, default=0, help="photos in the large case (instead of the small one)")
    ap.add_argument("--distributed", type=int, default=0, help="photos in the two-node Ray case")
    ap.add_argument("--shard-size", type=int, default=256, help="for --distributed")
    ap.add_argument("--workdir", default=None, help="folders and caches of the large cases (default: a temp dir)")
    ap.add_argument("--env-steps", type=int, default=20000, help="steps per round of the env comparison")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--env-check", default=None, metavar="SET_DIR", help="only the env comparison, on this set")
    ap.add_argument("--cpu-time", action="store_true", help="time the env comparison by process CPU time")
    args = ap.parse_args()
    if args.env_check:
        env_check(args.env_check, args.env_steps, args.rounds, args.cpu_time)
        return
    if args.large or args.distributed:
        print(f"cores={os.cpu_count()} loadavg(1 min) before={os.getloadavg()[0]:.2f}")
        tmp = None if args.workdir else tempfile.mkdtemp(prefix="faces-bench-", dir="/tmp")
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        try:
            if args.large:
                large(args.large, workdir, args.workers, args.env_steps, args.rounds)
            if args.distributed:
                distributed(args.distributed, workdir, args.shard_size)
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        print(f"loadavg(1 min) after={os.getloadavg()[0]:.2f}")
        return
    workers = args.workers or default_workers()
    print(f"cores={os.cpu_count()} workers={workers} n={args.n} loadavg(1 min) before={os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sides:
            folder = os.path.join(tmp, f"photos{side}")
            os.makedirs(folder)
            make_folder(folder, args.n, side)
            cache_dir = os.path.join(tmp, f"cache{side}")
            rates, cpu = [], []
            for r in range(1 + args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                res = prepare(folder, cache_dir, Settings(), workers=workers, use_cache=(r == 0))
                rates.append(args.n / (time.perf_counter() - t0))
                cpu.append((time.process_time() - c0) / args.n)
            t0 = time.perf_counter()
            fs = load_faces(cache_dir)
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "envs.faces",
                    "prepare",
                    folder,
                    "--out",
                    os.path.join(tmp, f"cli{side}"),
                    "--no-progress",
                    "--workers",
                    str(workers),
                ],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            t_cli = time.perf_counter() - t0
            c = res.report["counts"]
            cpu_ms = float(np.median(cpu[1:])) * 1000
            print(
                f"{side:5d} px: first call {rates[0]:6.1f} img/s (incl. cache write), warm best "
                f"{max(rates[1:]):6.1f} img/s, median {np.median(rates[1:]):6.1f}; CPU {cpu_ms:.1f} ms/img "
                f"(= {2000 / cpu_ms:.0f} img/s if 2 cores were free); kept {c['kept']}/{args.n} "
                f"{c['by_backend']}; CLI end to end {t_cli:.2f} s ({args.n / t_cli:.0f} img/s); "
                f"cache load {t_load * 1000:.0f} ms for {len(fs)} faces"
            )
    print(f"loadavg(1 min) after={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
