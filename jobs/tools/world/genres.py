"""The twelve genres of the sample world and what each one leans towards.

A genre is a tendency, not a rule: its typical tempo range (tracks are drawn around its
centre with a wide spread, so ranges overlap), major/minor share, usual meter, timbre
(partials, noise, attack), usual drum and hi-hat pattern and duration range are where a
track's own sound starts from (``sound.py`` moves each track away from them by its latent
vector), and its words are the genre-specific minority of what pages say about its artists
(``web.py``; the genre's name is never written). Data tables only: no I/O, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass

PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


@dataclass(frozen=True)
class Genre:
    name: str
    bpm: tuple[int, int]
    major_share: float
    meter: int  # beats per bar
    harmonics: tuple[float, ...]  # timbre: amplitude of partials 1..n
    noise: float  # breathiness / distortion
    attack: float  # seconds
    drums: str  # kick pattern name
    hat: float  # hi-hat level
    duration_s: tuple[int, int]
    adjectives: tuple[str, ...]  # genre-specific words (a minority of what pages say; never the name)
    nouns: tuple[str, ...]


GENRES: tuple[Genre, ...] = (
    Genre(
        "ambient",
        (60, 76),
        0.6,
        4,
        (1.0, 0.2, 0.05),
        0.02,
        0.35,
        "none",
        0.0,
        (300, 540),
        ("ethereal", "drifting", "meditative", "glacial", "weightless", "serene"),
        ("drone", "texture", "soundscape", "field recording", "synth pad", "stillness"),
    ),
    Genre(
        "techno",
        (126, 134),
        0.2,
        4,
        (1.0, 0.5, 0.33, 0.25, 0.2, 0.16, 0.14),
        0.05,
        0.005,
        "four",
        0.5,
        (330, 480),
        ("hypnotic", "relentless", "industrial", "pounding", "minimal", "mechanical"),
        ("warehouse", "kick drum", "acid line", "modular synth", "dancefloor", "rave"),
    ),
    Genre(
        "house",
        (118, 124),
        0.7,
        4,
        (1.0, 0.0, 0.33, 0.0, 0.2, 0.0, 0.14),
        0.02,
        0.01,
        "four",
        0.35,
        (300, 420),
        ("soulful", "uplifting", "groovy", "sunny", "funky", "euphoric"),
        ("piano stab", "diva vocal", "disco sample", "club night", "groove", "hook"),
    ),
    Genre(
        "hip hop",
        (84, 96),
        0.3,
        4,
        (1.0, 0.6, 0.2),
        0.03,
        0.005,
        "boombap",
        0.25,
        (180, 260),
        ("gritty", "lyrical", "boom-bap", "streetwise", "introspective", "hard-hitting"),
        ("verse", "sample", "mixtape", "punchline", "beat tape", "cypher"),
    ),
    Genre(
        "metal",
        (150, 180),
        0.1,
        4,
        (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4),
        0.35,
        0.002,
        "double",
        0.6,
        (240, 420),
        ("crushing", "brutal", "thunderous", "dark", "furious", "apocalyptic"),
        ("riff", "blast beat", "distortion", "mosh pit", "guitar solo", "breakdown"),
    ),
    Genre(
        "jazz",
        (104, 140),
        0.5,
        4,
        (1.0, 0.3, 0.15, 0.08),
        0.01,
        0.02,
        "swing",
        0.3,
        (240, 480),
        ("improvised", "smoky", "virtuosic", "swinging", "modal", "elegant"),
        ("saxophone", "walking bass", "standard", "quartet", "solo", "late night set"),
    ),
    Genre(
        "classical",
        (66, 96),
        0.7,
        3,
        (1.0, 0.45, 0.3, 0.2, 0.1),
        0.0,
        0.12,
        "none",
        0.0,
        (360, 720),
        ("majestic", "lyrical", "romantic", "stately", "delicate", "orchestral"),
        ("symphony", "string quartet", "concerto", "movement", "conductor", "sonata"),
    ),
    Genre(
        "folk",
        (92, 112),
        0.8,
        3,
        (1.0, 0.5, 0.25, 0.12, 0.06),
        0.0,
        0.003,
        "waltz",
        0.0,
        (180, 280),
        ("rustic", "heartfelt", "earthy", "pastoral", "wistful", "homespun"),
        ("acoustic guitar", "banjo", "ballad", "campfire", "harmony", "storytelling"),
    ),
    Genre(
        "reggae",
        (70, 84),
        0.75,
        4,
        (1.0, 0.2, 0.5, 0.1),
        0.01,
        0.005,
        "onedrop",
        0.2,
        (200, 300),
        ("laid-back", "sunny", "conscious", "dubby", "rootsy", "mellow"),
        ("offbeat", "dub", "bassline", "sound system", "skank", "riddim"),
    ),
    Genre(
        "punk",
        (168, 196),
        0.55,
        4,
        (1.0, 0.7, 0.6, 0.5, 0.4),
        0.45,
        0.002,
        "rock",
        0.5,
        (110, 180),
        ("raw", "snotty", "fast", "rebellious", "loud", "abrasive"),
        ("power chord", "mosh", "three chords", "fanzine", "basement show", "singalong"),
    ),
    Genre(
        "soul",
        (92, 108),
        0.65,
        4,
        (1.0, 0.4, 0.3, 0.0, 0.1),
        0.01,
        0.02,
        "backbeat",
        0.2,
        (170, 260),
        ("velvety", "gospel", "heartbreaking", "warm", "sultry", "smooth"),
        ("horn section", "falsetto", "organ", "love song", "choir", "rhythm section"),
    ),
    Genre(
        "drum and bass",
        (170, 176),
        0.25,
        4,
        (1.0, 0.1, 0.05),
        0.1,
        0.003,
        "dnb",
        0.45,
        (300, 420),
        ("rolling", "frenetic", "liquid", "jungle", "breakneck", "heavy"),
        ("breakbeat", "amen break", "sub bass", "reese bass", "junglist", "pirate radio"),
    ),
)

# kick pattern per bar in eighth notes (1 = kick), accents on the bar's first beat
KICKS = {
    "none": [],
    "four": [0, 2, 4, 6],
    "boombap": [0, 3, 5],
    "double": [0, 1, 2, 3, 4, 5, 6, 7],
    "swing": [0, 4],
    "waltz": [0],
    "onedrop": [4],
    "rock": [0, 4],
    "backbeat": [0, 3, 4],
    "dnb": [0, 5],
}
