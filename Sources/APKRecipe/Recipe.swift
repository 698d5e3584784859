import APKFormat
