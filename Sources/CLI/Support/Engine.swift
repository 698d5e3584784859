import APKFormat

/// The compression engine for package data members.
func makeCompressionEngine(_ settings: CompressionSettings) -> CompressionEngine {
    ZlibGzipEngine(level: min(settings.level, 9))
}
