import sys

from swarm.scripted import main

sys.exit(main())
