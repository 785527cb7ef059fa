"""The character bank (issue 13): the .sgbank file, calibrated matching, names in eval."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sgtui.engine.bank import Prototypes, calibrate, match_clusters, prototypes
from sgtui.project import LineIn, Project
from sgtui.project.bank import Bank

SAMPLES = Path(__file__).resolve().parent.parent / "sample_projects"


def _one_line_error(r) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def _voices(rng, n_chars: int, d: int = 64) -> np.ndarray:
    return rng.normal(size=(n_chars, d))


def _lines(rng, centre: np.ndarray, n: int, spread: float = 0.6) -> np.ndarray:
    return centre + rng.normal(scale=spread, size=(n, centre.size))


def test_a_character_keeps_its_range_as_several_prototypes():
    rng = np.random.default_rng(1)
    calm, shout = _voices(rng, 2)
    x = np.vstack([_lines(rng, calm, 20, 0.2), _lines(rng, shout, 20, 0.2)])
    p = prototypes(x)
    assert p.shape[0] >= 3  # the mean plus one per register
    assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-5)
    best = (p / 1) @ (np.vstack([calm, shout]) / np.linalg.norm([calm, shout], axis=1)[:, None]).T
    assert best[:, 0].max() > 0.95 and best[:, 1].max() > 0.95  # each register has its prototype


def test_calibrated_matching_names_the_cast_and_leaves_guests_unnamed():
    rng = np.random.default_rng(7)
    centres = _voices(rng, 9)
    x, ch, ep = [], [], []
    for e in range(2):
        for c in range(6):
            n = int(rng.integers(15, 40))
            x.append(_lines(rng, centres[c], n))
            ch += [c] * n
            ep += [e] * n
    x, ch, ep = np.vstack(x), np.array(ch), np.array(ep)
    cal = calibrate(x, ch, ep, 6)
    protos = Prototypes.build(x, ch, 6)
    episode = [0, 1, 2, 3, 6, 7, 8, 3]  # four of the cast, three guests, character 3 split in two
    y = np.vstack([_lines(rng, centres[c], 25) for c in episode])
    group = np.repeat(np.arange(len(episode)), 25)
    matches = {m.group: m.character for m in match_clusters(y, group, len(episode), protos, cal)}
    assert matches == {0: 0, 1: 1, 2: 2, 3: 3, 7: 3}  # the split is a suggested merge
    # with one episode only, alternate halves calibrate instead
    one = ep == 0
    cal1 = calibrate(x[one], ch[one], ep[one], 6)
    matches = {m.group: m.character for m in match_clusters(y, group, len(episode), protos, cal1)}
    assert set(matches) >= {0, 1, 2} and not set(matches) & {4, 5, 6}


def test_on_haruhi03_a_character_left_out_of_the_bank_never_inherits_a_name():
    """Real ECAPA voices: the bank learns four of the five speakers from the first half of the
    episode; in the second half each speaker is one cluster, and the fifth is a guest."""
    from engine_helpers import haruhi03

    x, truth, _ = haruhi03()
    n = truth.size
    first = np.arange(n) < n // 2
    correct = 0
    for guest in range(5):
        cast = [c for c in range(5) if c != guest]
        bank = first & (truth != guest)
        ch = np.searchsorted(cast, truth[bank])
        cal = calibrate(x[bank], ch, np.zeros(ch.size, np.int64), 4)
        protos = Prototypes.build(x[bank], ch, 4)
        matches = match_clusters(x[~first], truth[~first], 5, protos, cal)
        assert guest not in {m.group for m in matches}, f"guest {guest} was named"
        assert all(cast[m.character] == m.group for m in matches)
        correct += len(matches)
    assert correct >= 12  # of 20 (4 recurring speakers × 5 choices of the guest)


def _labelled(tmp_path: Path) -> tuple[Path, Path]:
    for f in ("sample01.sgproj", "sample01.truth.csv", "sample02.sgproj", "sample02.truth.csv"):
        shutil.copy(SAMPLES / f, tmp_path / f)
    return tmp_path / "sample01.sgproj", tmp_path / "sample02.sgproj"


def _speakers(truth: Path) -> dict[str, int]:
    """Lines per speaker of a sample's truth CSV."""
    import csv

    with open(truth, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, int] = {}
    for row in rows:
        out[row["speaker"]] = out.get(row["speaker"], 0) + 1
    return out


def test_acceptance_bank_from_ep1_names_ep2_and_a_guest_stays_unnamed(tmp_path, cli):
    """The bundled samples are a season in miniature: a recurring cast and one guest each."""
    ep1, ep2 = _labelled(tmp_path)
    truth2 = str(tmp_path / "sample02.truth.csv")
    cast1, cast2 = _speakers(tmp_path / "sample01.truth.csv"), _speakers(tmp_path / "sample02.truth.csv")
    recurring, guests = set(cast1) & set(cast2), set(cast2) - set(cast1)
    assert len(recurring) >= 4 and len(guests) == 1
    assert cli("labels", "import", ep1, tmp_path / "sample01.truth.csv").returncode == 0
    bank = tmp_path / "s.sgbank"
    r = cli("bank", "add", bank, ep1, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"episode": "sample01", "characters": len(cast1), "lines": 80}]
    before = json.loads(cli("eval", ep2, "--truth", truth2, "--json").stdout)
    assert before["ops"]["rename"] == len(cast2) and before["names"]["correct"] == 0
    r = cli("cluster", ep2, "--bank", bank, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bank"]["matched"] >= len(recurring)
    after = json.loads(cli("eval", ep2, "--truth", truth2, "--json").stdout)
    # every recurring character named right (the one rename left is the unnamed guest)
    assert after["ops"]["rename"] <= len(guests) and after["names"]["wrong"] == 0
    assert after["names"]["correct"] >= len(recurring)
    plain = tmp_path / "plain.sgproj"
    shutil.copy(SAMPLES / "sample02.sgproj", plain)
    assert cli("cluster", plain).returncode == 0
    alone = json.loads(cli("eval", plain, "--truth", truth2, "--json").stdout)
    # groups the bank calls one character are joined: fewer merges left, no wrong line more
    assert after["ops"]["merge"] <= alone["ops"]["merge"]
    assert after["ops"]["remove"] <= alone["ops"]["remove"]
    assert after["ops"]["total_with_names"] < alone["ops"]["total_with_names"]
    with Project.open(ep2, readonly=True) as p:
        assert p.meta_get("bank_path") == str(bank.resolve())
        assert all(c.name is None for c in p.clusters())  # suggestions, never human names
        assert {s.source for s in p.name_suggestions().values()} == {"bank"}
    # a character the bank does not know (a guest) must not inherit another's name
    guest_bank = tmp_path / "guest.sgbank"
    shutil.copy(bank, guest_bank)
    assert cli("bank", "remove", guest_bank, "--character", "Chiyo").returncode == 0
    assert cli("cluster", ep2, "--bank", guest_bank).returncode == 0
    guest = json.loads(cli("eval", ep2, "--truth", truth2, "--json").stdout)
    assert guest["names"]["wrong"] == 0
    with Project.open(ep2, readonly=True) as p:
        assert "Chiyo" not in {s.name for s in p.name_suggestions().values()}


def test_re_adding_an_episode_replaces_its_contribution(tmp_path, cli):
    ep1, _ = _labelled(tmp_path)
    assert cli("labels", "import", ep1, tmp_path / "sample01.truth.csv").returncode == 0
    bank = tmp_path / "s.sgbank"
    assert cli("bank", "add", bank, ep1).returncode == 0
    with Project.open(ep1) as p:
        akira = next(c.id for c in p.clusters() if c.name == "Akira")
        boris = next(c.id for c in p.clusters() if c.name == "Boris")
        moved = p.cluster_lines(akira)[0]
        p.move([moved], boris, "ann")  # a correction after the first add
    assert cli("bank", "add", bank, ep1).returncode == 0
    listing = json.loads(cli("bank", "list", bank, "--json").stdout)
    lines = {c["name"]: c["lines"] for c in listing["characters"]}
    truth = _speakers(tmp_path / "sample01.truth.csv")
    assert lines["Akira"] == truth["Akira"] - 1 and lines["Boris"] == truth["Boris"] + 1
    assert sum(lines.values()) == 80
    assert len(listing["episodes"]) == 1 and listing["calibrated"]
    with Bank.open(bank, readonly=True) as b:
        rows = b.conn.execute("SELECT COUNT(*) FROM bank_lines b JOIN characters c ON c.id=b.character_id "
                              "WHERE c.name='Boris' AND b.modality='voice' AND b.line_id=?", (moved,)).fetchone()[0]
    assert rows == 1
    assert cli("bank", "rename", bank, "Akira", "Aki").returncode == 0
    names = {c["name"] for c in json.loads(cli("bank", "list", bank, "--json").stdout)["characters"]}
    assert "Aki" in names and "Akira" not in names
    _one_line_error(cli("bank", "rename", bank, "Aki", "Boris"))
    assert cli("bank", "remove", bank, "--episode", ep1).returncode == 0
    assert json.loads(cli("bank", "list", bank, "--json").stdout)["characters"] == []


def test_bank_refuses_another_encoder_strangers_and_edits_with_one_line(tmp_path, cli):
    ep1, ep2 = _labelled(tmp_path)
    assert cli("labels", "import", ep1, tmp_path / "sample01.truth.csv").returncode == 0
    bank = tmp_path / "s.sgbank"
    assert cli("bank", "add", bank, ep1).returncode == 0
    other = tmp_path / "other.sgproj"
    with Project.create(other, title="other") as p:
        ids = p.add_lines([LineIn(i * 1000, i * 1000 + 500, f"l{i}") for i in range(6)])
        p.put_embeddings("voice", "another-encoder", ids, np.random.default_rng(0).normal(size=(6, 8)))
        p.import_labels({i: "Akira" for i in ids}, "ann")
    before = bank.read_bytes()
    assert "another-encoder" in _one_line_error(cli("bank", "add", bank, other))
    assert "another-encoder" in _one_line_error(cli("cluster", other, "--bank", bank))
    assert bank.read_bytes() == before
    _one_line_error(cli("bank", "list", ep2))  # a project is not a bank
    _one_line_error(cli("cluster", ep2, "--bank", ep2))
    _one_line_error(cli("bank", "add", ep1, ep1))  # the output is an input
    _one_line_error(cli("bank", "list", tmp_path / "missing.sgbank"))
    fresh = tmp_path / "fresh.sgbank"
    assert "different voice encoders" in _one_line_error(cli("bank", "add", fresh, ep1, other))
    assert not fresh.exists()  # a refusal creates nothing
    con = sqlite3.connect(bank)
    con.execute("CREATE TRIGGER t AFTER INSERT ON episodes BEGIN DELETE FROM characters; END")
    con.commit()
    con.close()
    assert "trigger" in _one_line_error(cli("bank", "add", bank, ep1))


@pytest.mark.parametrize("with_actor", [True, False])
def test_clusters_take_their_subtitles_majority_speaker_as_a_suggestion(tmp_path, cli, with_actor):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3, 16))
    who = [0, 1, 2] * 8
    path = tmp_path / "subs.sgproj"
    with Project.create(path, title="subs") as p:
        names = ["Kyon", "Haruhi", ""]  # the third speaker's lines carry no name
        lines = [LineIn(i * 2000, i * 2000 + 900,
                        f"line {i}" if with_actor or not names[w] else f"{names[w]}: line {i}",
                        actor=names[w] or None if with_actor else None)
                 for i, w in enumerate(who)]
        ids = p.add_lines(lines)
        vecs = centres[who] + rng.normal(scale=0.05, size=(len(who), 16))
        p.put_embeddings("voice", "v", ids, vecs)
    assert cli("cluster", path, "--method", "ahc").returncode == 0
    with Project.open(path, readonly=True) as p:
        sugg = {s.name for s in p.name_suggestions().values()}
        assert sugg == {"Kyon", "Haruhi"}
        assert all(s.source == "subtitle" for s in p.name_suggestions().values())
    truth = tmp_path / "truth.csv"
    truth.write_text("start,end,speaker\n" + "".join(
        f"{i * 2},{i * 2 + 0.9},{['Kyon', 'Haruhi', 'Mikuru'][w]}\n" for i, w in enumerate(who)))
    report = json.loads(cli("eval", path, "--truth", truth, "--json", "--weights", "1,1,1,2").stdout)
    assert report["names"] == {"correct": 2, "wrong": 0, "missing": 1}
    assert report["ops"]["rename"] == 1 and report["ops"]["total_with_names"] == report["ops"]["total"] + 2
    assert report["weights"]["rename"] == 2


@pytest.mark.slow
def test_ingest_embed_bank_clusters_and_names_a_new_episode(tmp_path, cli):
    from media_helpers import make_episode_files

    ep1, _ = _labelled(tmp_path)
    assert cli("labels", "import", ep1, tmp_path / "sample01.truth.csv").returncode == 0
    bank = tmp_path / "s.sgbank"
    assert cli("bank", "add", bank, ep1).returncode == 0
    files = make_episode_files(tmp_path / "new", seed=41, lines=14)
    out = tmp_path / "new.sgproj"
    _one_line_error(cli("ingest", files.video, "--subs", files.srt, "--bank", bank, "-o", out))
    assert not out.exists()  # refused before any work
    r = cli("ingest", files.video, "--subs", files.srt, "--embed", "--device", "cpu",
            "--bank", bank, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "names suggested for" in r.stdout and f"from {bank} (accept them" in r.stdout
    with Project.open(out, readonly=True) as p:
        assert p.meta_get("bank_path") == str(bank.resolve()) and p.clusters()
    report = json.loads(cli("eval", out, "--truth", files.truth, "--json").stdout)
    assert report["names"]["wrong"] == 0  # a mixed cluster is not given anyone's name


def test_a_line_left_unassigned_lists_the_bank_characters_cluster(tmp_path, cli):
    from sgtui.workflows import match_bank

    ep1, ep2 = _labelled(tmp_path)
    assert cli("labels", "import", ep1, tmp_path / "sample01.truth.csv").returncode == 0
    bank = tmp_path / "s.sgbank"
    assert cli("bank", "add", bank, ep1).returncode == 0
    assert cli("cluster", ep2, "--bank", bank).returncode == 0
    with Project.open(ep2) as p:
        sugg = p.name_suggestions()
        cid, name = max(((c.id, sugg[c.id].name) for c in p.clusters() if c.id in sugg),
                        key=lambda t: len(p.cluster_lines(t[0])))
        lid = p.cluster_lines(cid)[0]
        # as the engine leaves a doubtful line: unassigned, with no suggestion of its own
        p.conn.execute("DELETE FROM assignments WHERE line_id=?", (lid,))
        p.conn.execute("DELETE FROM suggestions WHERE line_id=?", (lid,))
        summary = match_bank(p, bank)
        assert summary["line_suggestions"] >= 1
        assert cid in [s.cluster_id for s in p.suggestions()[lid]]
        assert name in {sugg[s.cluster_id].name for s in p.suggestions()[lid] if s.cluster_id in sugg}


def test_a_recluster_without_its_bank_drops_the_old_bank_names(tmp_path, cli):
    ep1, ep2 = _labelled(tmp_path)
    assert cli("labels", "import", ep1, tmp_path / "sample01.truth.csv").returncode == 0
    bank = tmp_path / "s.sgbank"
    assert cli("bank", "add", bank, ep1).returncode == 0
    assert cli("cluster", ep2, "--bank", bank).returncode == 0
    with Project.open(ep2, readonly=True) as p:
        assert p.name_suggestions()
    bank.rename(tmp_path / "moved.sgbank")
    r = cli("cluster", ep2, "--json")
    assert r.returncode == 0, r.stderr
    assert "does not exist" in json.loads(r.stdout)["bank_error"]
    with Project.open(ep2, readonly=True) as p:
        assert not p.name_suggestions()


def test_accepting_names_is_one_undoable_rename_and_refuses_what_changed_since(tmp_path):
    from sgtui.errors import ConflictError, SgtuiError

    _, ep2 = _labelled(tmp_path)
    with Project.open(ep2) as p:
        a, b, c = [cl.id for cl in p.clusters()[:3]]
        p.set_name_suggestions("subtitle", {a: ("Kyon", 0.9), b: ("Haruhi", 0.8), c: ("Kyon", 0.7)})
        action = p.accept_names({a: "Kyon", b: "Haruhi"}, "ann")
        rows = [o for o in p.ops() if o.action_id == action]
        assert [(o.kind, o.src_cluster, o.annotator) for o in rows] == [("rename", a, "ann"), ("rename", b, "ann")]
        assert json.loads(rows[0].payload)["accepted"] == {str(a): ["Kyon", "subtitle"],
                                                          str(b): ["Haruhi", "subtitle"]}
        with pytest.raises(SgtuiError, match="merge the two clusters"):
            p.accept_names({c: "Kyon"}, "ann")  # a suggested merge, not a second Kyon
        with pytest.raises(ConflictError, match="since the screen was drawn"):
            p.accept_names({a: "Kyon"}, "bea")  # named meanwhile
        assert p.undo("ann") is not None  # one undo takes back both names
        assert p.cluster(a).name is None and p.cluster(b).name is None
