from munivideo.cli import main

main()
