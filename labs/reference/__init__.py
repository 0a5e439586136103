"""Reference solutions of the labs' plain modules (lab.toml [modules]): webget (lab 0),
udpkv (lab 5). Each carries BEGIN/END SOLUTION regions; the starters are generated from them."""
