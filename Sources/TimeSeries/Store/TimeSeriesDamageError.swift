/// Damage that opening the store does not cut away by itself, because readable records may
/// follow it or segments need what it held: a bad record in the middle of a log file, any bad
/// record in a log file that newer ones follow, a damaged series dictionary. Opening changed
/// nothing; ``TimeSeriesRepair`` moves what cannot be read aside and keeps the rest.
public struct TimeSeriesDamageError: Error, Sendable, CustomStringConvertible {
    /// The damaged file.
    public let path: String
    /// Where in it the damage starts.
    public let offset: Int
    /// What is wrong there, and why it is not cut away.
    public let reason: String

    public var description: String { "\(path) is damaged at byte \(offset): \(reason)" }
}
