from digest.cli.app import main

main()
