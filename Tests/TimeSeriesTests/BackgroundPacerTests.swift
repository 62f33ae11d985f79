import Foundation
import Synchronization
import Testing

@testable import TimeSeries

/// Bulk work keeps to its share of a core, and stops pacing when work waits behind it.
@Suite("Background pacing")
struct BackgroundPacerTests {
    /// Burns about `milliseconds` of this thread's CPU time in steps of a tenth of a millisecond,
    /// pacing between steps.
    private func work(milliseconds: UInt64, pacer: inout BackgroundPacer, hurry: () -> Bool = { false }) {
        let started = threadCPUNanoseconds()
        var sink: UInt64 = 0
        while threadCPUNanoseconds() - started < milliseconds * 1_000_000 {
            let step = threadCPUNanoseconds()
            while threadCPUNanoseconds() - step < 100_000 { sink &+= 1 }
            pacer.pace(hurry: hurry)
        }
        #expect(sink > 0)
    }

    @Test("Work at a quarter of a core takes at least four times its CPU time")
    func quarter() {
        var pacer = BackgroundPacer(share: 0.25)
        let started = monotonicNanoseconds()
        work(milliseconds: 40, pacer: &pacer)
        let wall = monotonicNanoseconds() - started
        // At most one step and the least sleep short of the share's pace.
        #expect(wall >= 4 * 40_000_000 - BackgroundPacer.minimumSleepNanoseconds - 4 * 100_000)
        #expect(pacer.share == 0.25)
    }

    @Test("Work that others wait behind goes at full speed from the first time it would sleep")
    func hurry() {
        let asked = Mutex(0)
        var pacer = BackgroundPacer(share: 0.01)
        work(milliseconds: 20, pacer: &pacer) {
            asked.withLock { $0 += 1 }
            return true
        }
        #expect(pacer.share == 1)
        #expect(asked.withLock { $0 } == 1)
    }

    @Test("A share of 100 % never sleeps nor asks")
    func fullSpeed() {
        var pacer = BackgroundPacer(share: 1)
        work(milliseconds: 5, pacer: &pacer) {
            Issue.record("a pacer at full speed asked whether to hurry")
            return true
        }
        #expect(pacer.share == 1)
    }

    @Test("The flusher runs at nice 19 under its name; the writer at the process's priority")
    func threadPriorities() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        defer { store.close() }
        var niceByName: [String: Int] = [:]
        for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") {
            guard let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                let afterName = stat.range(of: ")", options: .backwards)
            else { continue }
            // After the name come stat's fields from the 3rd (state) on: nice is the 19th.
            let fields = stat[afterName.upperBound...].split(separator: " ")
            niceByName[name.trimmingCharacters(in: .whitespacesAndNewlines)] = Int(fields[16])
        }
        #expect(niceByName["ocpp-ts-flusher"] == 19)
        #expect(niceByName["ocpp-ts-writer"] == 0)
    }
}
