from neurokd.cli import entry

entry()
