from kagura.cli.app import main

main()
