"""Delta sync: the change log's cursors, what a transaction's changes look like on the wire."""
