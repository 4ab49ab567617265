"""The `attenscribble` command line: scribble datasets in, dense-label evaluation and pictures out."""
