import APKFormat

/// The compression engine for package data members: parallel libdeflate chunks joined into one gzip member.
func makeCompressionEngine(_ settings: CompressionSettings) -> CompressionEngine {
    ParallelDeflateEngine(settings: settings)
}
