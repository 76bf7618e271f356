from kagura.cli._entry import main

main()
