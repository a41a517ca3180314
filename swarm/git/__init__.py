"""Everything swarm does with git, behind one runner.

    runner     GitRunner: argv, config and environment built once; sync, async, bytes or text
    repo       GitRepo: refs, in-memory merges, commits, the repository's places
    worktrees  the only place a worktree is added or removed (one lock); git run on a worktree
    index      temporary indexes, binary-safe diffs, the user's own commit (`swarm apply`)
    refs       every branch and ref name swarm makes
"""
