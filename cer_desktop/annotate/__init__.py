"""`cer annotate`: the command, its batch loop over inputs, its inputs, shards and signals.

It drives `session.offline.OfflineSession` for each input; `recording/` below it writes the
session folders.
"""
