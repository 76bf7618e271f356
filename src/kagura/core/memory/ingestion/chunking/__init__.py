"""Chunking: text cut into overlapping pieces, and documents cut along their structure (headings, code
symbols, blank-line blocks) with line ranges."""
