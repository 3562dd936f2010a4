from faultlens.cli import entry

entry()
