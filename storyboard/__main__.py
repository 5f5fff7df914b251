from storyboard.cli import main

main()
