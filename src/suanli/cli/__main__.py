from suanli.cli.app import run

run()
