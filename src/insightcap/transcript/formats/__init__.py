"""Readers for the caption and transcript files people already have from Zoom, Teams and players.

Each reader turns one file layout into a list of `Cue`s; `insightcap.transcript.importers` picks
the reader from the file's content and turns the cues into a `Transcript`.
"""
