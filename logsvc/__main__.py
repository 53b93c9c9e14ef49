from logsvc.cli import main

main()
