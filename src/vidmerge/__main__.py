from vidmerge.cli import main

raise SystemExit(main())
