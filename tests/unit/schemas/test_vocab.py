"""The closed vocabularies: detail forms match, and the docs' lists are generated from them."""

from pathlib import Path

from schemas import vocab

ROOT = Path(__file__).resolve().parents[3]


def test_plain_and_detail_forms_are_known():
    assert vocab.is_known(vocab.AUDIO_REJECT_REASONS, "too_short")
    assert vocab.is_known(vocab.AUDIO_REJECT_REASONS, "failed:ValueError")
    assert not vocab.is_known(vocab.AUDIO_REJECT_REASONS, "failed:")
    assert vocab.is_known(vocab.CRAWL_OUTCOMES, "redirect_robots_disallowed")
    assert not vocab.is_known(vocab.CRAWL_OUTCOMES, "teapot")
    assert vocab.is_known(vocab.QUARANTINE_REASONS, "missing_columns:user_id+track_id")
    assert not vocab.is_known(vocab.PLAYLIST_SOURCES, "Popular")


def test_blend_sources_are_playlist_sources():
    assert set(vocab.BLEND_SOURCES) <= set(vocab.PLAYLIST_SOURCES)


def test_architecture_lists_are_generated_from_the_vocabularies():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert vocab.render_into(text) == text, "run: python -m schemas.vocab --write ARCHITECTURE.md"
    for _, values in vocab.VOCABULARIES.values():
        for value in values:
            assert f"- `{value}`:" in text


def _literals(pattern, *globs):
    import re

    found = set()
    for g in globs:
        for path in ROOT.glob(g):
            found |= {re.sub(r"\{[^}]*\}", "x", m) for m in re.findall(pattern, path.read_text(encoding="utf-8"))}
    return found


def test_every_crawl_outcome_the_code_writes_is_in_the_vocabulary():
    written = _literals(r"""outcome["']?\s*[:=]\s*f?"([^"]+)\"""", "jobs/culture/*.py")
    assert len(written) >= 8  # the pattern still finds the crawler's outcomes
    unknown = {w for w in written if not vocab.is_known(vocab.CRAWL_OUTCOMES, w)}
    assert unknown <= {vocab.REDIRECT_HOP}, unknown
