"""Speech recognition (`ingest --asr`) on episodes built from real recorded speech.

Lays devspeech utterances of one corpus end to end (random speakers, random pauses) in a
generated video, then times the model load and the recognition and scores the lines:
the detected language, the real-time factor, how many utterances have a line edge within
300 ms of both their true start and end, and how many lines span two utterances.

    .venv/bin/python bench/asr.py --source vctk --utterances 20 --pause 0.15,1.0
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from devspeech_helpers import make_speech_episode, manifest  # noqa: E402

from sgtui.media import asr, decode  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="aishell1",
                    choices=["aishell1", "vctk", "so762", "emodb"])
    ap.add_argument("--utterances", type=int, default=20)
    ap.add_argument("--pause", default="0.3,1.2", help="MIN,MAX seconds between utterances")
    ap.add_argument("--model", default="base")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--show", action="store_true", help="print the true turns and the lines")
    args = ap.parse_args()
    lo, hi = (float(x) for x in args.pause.split(","))
    rng = random.Random(args.seed)
    pool = [u for u in manifest(args.data) if u.source == args.source]
    picked = rng.sample(pool, min(args.utterances, len(pool)))
    with tempfile.TemporaryDirectory() as tmp:
        ep = make_speech_episode(Path(tmp), picked, seed=args.seed, pause_s=(lo, hi))
        audio = decode.decode_audio(ep.video)
        t0 = time.perf_counter()
        loaded = asr.load_model(args.model, args.device)
        t1 = time.perf_counter()
        cues, lang = asr.transcribe(audio, args.model, None, loaded=loaded)
        t2 = time.perf_counter()
    seconds = len(audio.samples) / audio.rate
    hit = sum(any(abs(c.start_ms - a) <= 300 for c in cues)
              and any(abs(c.end_ms - b) <= 300 for c in cues) for a, b, _ in ep.turns)
    spanning = sum(len([t for t in ep.turns
                        if min(c.end_ms, t[1]) - max(c.start_ms, t[0]) > 50]) > 1 for c in cues)
    print(f"{args.source}: {len(picked)} utterances, {seconds:.0f} s of audio, pauses "
          f"{lo}-{hi} s, model {args.model}")
    print(f"  language {lang} (truth {picked[0].language}); model load {t1 - t0:.1f} s; "
          f"recognition {t2 - t1:.1f} s = {seconds / (t2 - t1):.1f}x real time")
    print(f"  {len(cues)} lines; both edges within 300 ms: {hit}/{len(ep.turns)}; "
          f"lines spanning two utterances: {spanning}")
    if args.show:
        for a, b, spk in ep.turns:
            print(f"  truth {a:7d} {b:7d} {spk}")
        for c in cues:
            print(f"  line  {c.start_ms:7d} {c.end_ms:7d} {c.text[:60]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
