import ArgumentParser
Apkit.main()
