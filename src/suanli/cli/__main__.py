from suanli.cli.entry import run

run()
