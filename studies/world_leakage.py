"""Does the sample world hand its sources the answer? Measures how easily a generated world's
hidden genre can be read off the audio and the web, beside the chance references.

* **genre from simple audio features**: per clip, the mean and spread of a 40-band log-mel
  spectrogram, onset-strength statistics, the onset rate and the onset envelope's
  autocorrelation (a crude tempo profile); a standardised logistic regression, 5-fold
  stratified cross-validation (seeded); accuracy with a 95% bootstrap interval over clips,
  beside chance (1 / genres) and the majority class. When the world has
  ``truth/artist_scenes.csv`` the same is measured for the track's scene.
* **genre names on artist pages**: the share of artist pages (``web/artists/*.html``) whose
  text names the artist's own genre, and the share of all pages naming any genre.
* **links across genres**: the share of artist-page links to another artist whose genre
  differs, beside the share random links would give.
* **tf-idf neighbours**: each artist's bio + review as a tf-idf vector (sklearn, English stop
  words); the share of its 5 cosine-nearest artists with the same genre, beside random
  neighbours' expected share.

Reads ``<world>/truth/``, ``<world>/audio/``, ``<world>/catalog/``, ``<world>/web/``; writes
``--out`` (JSON) and prints a summary.

Run alone::

    python -m studies.world_leakage [--world data/sample] [--max-clips 800] [--out docs/world_leakage.json]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.config import PROJECT_ROOT
from jobs.evaluation.stats import bootstrap_mean

SR = 22_050


def clip_features(path: Path) -> np.ndarray:
    """Simple mel and onset features of one clip."""
    import librosa
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32")
    if y.ndim > 1:
        y = y.mean(axis=1)
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=40), ref=1.0)
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    rate = len(librosa.onset.onset_detect(onset_envelope=onset, sr=sr)) / (len(y) / sr)
    env = onset - onset.mean()
    ac = np.correlate(env, env, mode="full")[len(env) - 1 :]
    ac = ac / (ac[0] or 1.0)
    lags = np.linspace(4, min(len(ac) - 1, 120), 24).astype(int)  # ~0.1 s .. 2.8 s
    return np.concatenate([mel.mean(1), mel.std(1), [onset.mean(), onset.std(), rate], ac[lags]])


def cv_accuracy(x: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per-sample correctness of a 5-fold cross-validated, standardised logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counts = pd.Series(y).value_counts()
    keep = np.isin(y, counts[counts >= 5].index)  # a class needs a member in every fold
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=1.0))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    pred = cross_val_predict(model, x[keep], y[keep], cv=folds)
    return (pred == y[keep]).astype(float)


def _interval(values: np.ndarray) -> dict[str, float]:
    return bootstrap_mean(values).as_dict(4)


def audio_leakage(world: Path, max_clips: int, seed: int) -> dict[str, object]:
    truth = pd.read_csv(world / "truth" / "track_attributes.csv")
    tracks = pd.read_csv(world / "catalog" / "tracks.csv", keep_default_na=False)
    have = tracks[tracks["audio_path"] != ""].merge(truth[["track_id", "genre"]], on="track_id")
    scenes_path = world / "truth" / "artist_scenes.csv"
    if scenes_path.exists():
        have = have.merge(pd.read_csv(scenes_path)[["artist_id", "scene"]], on="artist_id")
    if len(have) > max_clips:
        have = have.sample(max_clips, random_state=seed)
    have = have[[(world / p).exists() for p in have["audio_path"]]]
    x = np.stack([clip_features(world / p) for p in have["audio_path"]])
    out: dict[str, object] = {"clips": len(have)}
    for label in ("genre", "scene"):
        if label not in have:
            continue
        y = have[label].astype(str).to_numpy()
        right = cv_accuracy(x, y, seed)
        out[f"{label}_accuracy"] = _interval(right)
        out[f"{label}_chance"] = round(1 / len(set(y)), 4)
        out[f"{label}_majority"] = round(float(pd.Series(y).value_counts(normalize=True).iloc[0]), 4)
    return out


def _text(page: Path) -> str:
    """The page's visible text, navigation and footer left out."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(nav|footer|head)>.*?</\1>", " ", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


def web_leakage(world: Path, seed: int) -> dict[str, object]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    genres = pd.read_csv(world / "truth" / "artist_genres.csv").set_index("artist_id")["genre"]
    names = sorted(set(genres))
    pattern = {g: re.compile(rf"\b{re.escape(g)}\b", re.I) for g in names}
    artist_pages = sorted((world / "web" / "artists").glob("*.html"))
    artist_pages = [p for p in artist_pages if p.stem in genres.index]  # pages are named by artist id
    ids = [p.stem for p in artist_pages]
    own = [bool(pattern[genres[a]].search(_text(p))) for a, p in zip(ids, artist_pages, strict=True)]
    every = sorted((world / "web").rglob("*.html"))
    any_name = [any(pat.search(_text(p)) for pat in pattern.values()) for p in every]

    crossed = []
    for a, p in zip(ids, artist_pages, strict=True):
        for target in re.findall(r'href="[./]*artists/([^"/]+)\.html"', p.read_text(encoding="utf-8")):
            if target != p.stem and target in genres.index:
                crossed.append(float(genres[target] != genres[a]))
    share = genres.value_counts(normalize=True)
    random_cross = float(1 - (share**2).sum())

    docs = []
    for p in artist_pages:
        review = world / "web" / "reviews" / f"{p.stem}-1.html"
        docs.append(_text(p) + " " + (_text(review) if review.exists() else ""))
    m = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(docs)
    sim = (m @ m.T).toarray()
    np.fill_diagonal(sim, -np.inf)
    g = np.array([genres[a] for a in ids])
    top = np.argsort(-sim, axis=1)[:, :5]
    precision = (g[top] == g[:, None]).mean(axis=1)
    same = np.array([(g == x).sum() - 1 for x in g]) / (len(g) - 1)
    return {
        "artist_pages": len(artist_pages),
        "artist_pages_naming_own_genre": round(float(np.mean(own)), 4),
        "pages": len(every),
        "pages_naming_any_genre": round(float(np.mean(any_name)), 4),
        "artist_links": len(crossed),
        "links_crossing_genres": round(float(np.mean(crossed)), 4) if crossed else None,
        "links_crossing_genres_if_random": round(random_cross, 4),
        "tfidf_neighbour_genre_precision_at_5": _interval(precision),
        "tfidf_random_neighbour_reference": round(float(same.mean()), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", type=Path, default=PROJECT_ROOT / "data" / "sample")
    parser.add_argument("--max-clips", type=int, default=800, help="a seeded sample of clips (all when fewer)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "world_leakage.json")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    manifest = json.loads((args.world / "world.json").read_text())
    result = {
        "world": str(args.world),
        "generator_version": manifest.get("generator_version"),
        "audio": audio_leakage(args.world, args.max_clips, args.seed),
        "web": web_leakage(args.world, args.seed),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    a, w = result["audio"], result["web"]
    print(f"world {args.world} (generator {result['generator_version']}), {result['seconds']} s")
    print(
        f"  genre from audio: {a['genre_accuracy']['mean']:.3f} "
        f"[{a['genre_accuracy']['low']:.3f}, {a['genre_accuracy']['high']:.3f}] over {a['clips']} clips "
        f"(chance {a['genre_chance']:.3f}, majority {a['genre_majority']:.3f})"
    )
    if "scene_accuracy" in a:
        print(f"  scene from audio: {a['scene_accuracy']['mean']:.3f} (chance {a['scene_chance']:.3f})")
    print(f"  artist pages naming their genre: {w['artist_pages_naming_own_genre']:.3f} of {w['artist_pages']}")
    print(f"  pages naming any genre: {w['pages_naming_any_genre']:.3f} of {w['pages']}")
    print(
        f"  artist links crossing genres: {w['links_crossing_genres']} "
        f"(random links: {w['links_crossing_genres_if_random']:.3f})"
    )
    t = w["tfidf_neighbour_genre_precision_at_5"]
    print(
        f"  tf-idf neighbour genre precision@5: {t['mean']:.3f} [{t['low']:.3f}, {t['high']:.3f}] "
        f"(random neighbours {w['tfidf_random_neighbour_reference']:.3f})"
    )
    print(f"  written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
