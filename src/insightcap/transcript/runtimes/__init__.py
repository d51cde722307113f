"""The ASR runtimes behind `insightcap.transcript.transcribe.Transcriber`, one module per runtime."""
