from devias_tk.cli import main

main()
