from clypt_mcp.cli import main

main()
