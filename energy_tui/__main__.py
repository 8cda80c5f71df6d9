from energy_tui.cli import main

raise SystemExit(main())
