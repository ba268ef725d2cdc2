from livesight.cli import main

main()
