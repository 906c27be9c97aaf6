"""Column names shared by many tables, as constants: jobs name a column through these, never a literal.

Each is a column of the contracts in :mod:`schemas.tables` (a test checks that every constant
names a column there, and the jobs' sources hold none of these names as a literal).
"""

USER_ID = "user_id"  # listener id
TRACK_ID = "track_id"  # track id, a key of the catalog's tracks
ARTIST_ID = "artist_id"  # artist id, a key of the catalog's artists
PLAYED_AT = "played_at"  # when a play started, UTC
MS_PLAYED = "ms_played"  # milliseconds listened
POSITION = "position"  # place in a playlist, 1-based
SCORE = "score"  # a ranking score
SOURCE = "source"  # which source chose a row (schemas.vocab.PLAYLIST_SOURCES) or gave a vector
REASON = "reason"  # why: a playlist row's explanation, a quarantined row's or a rejected clip's code
VECTOR = "vector"  # an embedding (list<float32>)
PLAYLIST_ID = "playlist_id"  # a user-made playlist's id
NEIGHBOR_ID = "neighbor_id"  # the similar artist of an artist_similarity row
SOURCE_FILE = "source_file"  # the raw file a quarantined row was read from
AUDIO_PATH = "audio_path"  # a track's audio file, relative to the data root
CONTEXT = "context"  # where a play came from (e.g. schemas.vocab.DISCOVER_WEEKLY_CONTEXT); null when not said
SAVED_AT = "saved_at"  # when a listener saved a track to their library, UTC

ALL: tuple[str, ...] = (
    USER_ID,
    TRACK_ID,
    ARTIST_ID,
    PLAYED_AT,
    MS_PLAYED,
    POSITION,
    SCORE,
    SOURCE,
    REASON,
    VECTOR,
    PLAYLIST_ID,
    NEIGHBOR_ID,
    SOURCE_FILE,
    AUDIO_PATH,
    CONTEXT,
    SAVED_AT,
)
