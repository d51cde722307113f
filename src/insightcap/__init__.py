"""insightcap: turn peer-learning session recordings into themed, evidence-backed debrief memos.

The pipeline runs in stages with plain typed data between them:
audio (decode) → transcript (transcribe / import) → insights (structure) → themes (embed) → memo.
"""

__version__ = "0.1.0"
