import Foundation
import Logging

/// The single writer: batches from the queue into the store, through the spool while a
/// remote database is unreachable, in arrival order.
extension Gateway {
    func writeLoop() async {
        // A restart resumes: what an earlier run spooled goes first.
        if let spool, spool.count > 0 {
            logger.info("replaying \(spool.count) spooled packet(s) from \(spool.path)")
            spoolActive.withLockedValue { $0 = true }
        }
        while let batch = await queue.nextBatch(max: config.batchSize) {
            await handle(batch)
        }
        // Shutdown: one last attempt for the spool and any drop counts.
        if spoolActive.withLockedValue({ $0 }) { await drainSpool() }
        if !pendingDrops.withLockedValue({ $0.isEmpty }) { await handle([]) }
        if let spool, spool.count > 0 {
            logger.warning("\(spool.count) packet(s) stay in the spool \(spool.path); they are written at the next start")
        }
    }

    func handle(_ uplinks: [Uplink]) async {
        let dropped = queue.takeDropped()
        if dropped > 0 { addDrop(.gatewayQueue, dropped, detail: nil) }
        let gateway = config.gatewayID
        let batch = uplinks.map { decode($0, gateway: gateway) }
        guard let store, !config.dryRun else {
            if !batch.isEmpty { notify(batch, nil) }
            pendingDrops.withLockedValue { $0.removeAll() }
            return
        }
        if let spool {
            if spoolActive.withLockedValue({ $0 }) {
                toSpool(spool, uplinks)
                await drainSpool()
                return
            }
            do {
                try await writeWithDrops(store, batch)
            } catch {
                logger.error("database \(store.kind) unavailable (\(describe(error))); spooling to \(spool.path)")
                setDatabaseUp(false)
                spoolActive.withLockedValue { $0 = true }
                toSpool(spool, uplinks)
            }
            return
        }
        // A local database: retry (the queue absorbs the wait and counts what overflows).
        var delay = 0.1
        while true {
            do {
                try await writeWithDrops(store, batch)
                return
            } catch {
                setDatabaseUp(false)
                logger.error("writing to \(store.kind) failed (\(describe(error))); retrying in \(delay) s")
                if Task.isCancelled || queue.isFinished && delay > 1 {
                    addDrop(.gatewayQueue, Int64(batch.count), detail: "database write failed at shutdown: \(error)")
                    return
                }
                try? await Task.sleep(for: .seconds(delay))
                delay = min(delay * 2, 5)
            }
        }
    }

    private func writeWithDrops(_ store: any GatewayStore, _ batch: [Ingest]) async throws {
        let drops = pendingDrops.withLockedValue { d -> [DropRecord] in
            defer { d.removeAll() }
            return d
        }
        guard !batch.isEmpty || !drops.isEmpty else { return }
        do {
            let t0 = monotonicNs()
            let outcome = try await store.write(batch, drops: drops, dedup: config.dedup)
            let ns = monotonicNs() - t0
            for f in writeTimings.withLockedValue({ $0 }) { f(ns) }
            setDatabaseUp(true)
            if !batch.isEmpty { notify(batch, outcome) }
        } catch {
            pendingDrops.withLockedValue { $0.insert(contentsOf: drops, at: 0) }
            throw error
        }
    }

    private func toSpool(_ spool: Spool, _ uplinks: [Uplink]) {
        guard !uplinks.isEmpty else { return }
        do {
            let lost = try spool.append(uplinks, gateway: config.gatewayID)
            if lost > 0 { addDrop(.spoolFull, Int64(lost), detail: "spool limit \(spool.limit)") }
        } catch {
            addDrop(.spoolFull, Int64(uplinks.count), detail: "spool write failed: \(error)")
        }
    }

    /// Replays the spool in order while the database accepts writes.
    func drainSpool() async {
        guard let spool, let store else { return }
        while true {
            let rows: [(id: Int64, uplink: Uplink, gateway: String)]
            do {
                rows = try spool.peek(max: config.batchSize)
            } catch {
                logger.error("cannot read the spool \(spool.path): \(error)")
                return
            }
            if rows.isEmpty {
                if spoolActive.withLockedValue({ $0 }) { logger.info("spool replayed; writing directly again") }
                spoolActive.withLockedValue { $0 = false }
                return
            }
            let batch = rows.map { decode($0.uplink, gateway: $0.gateway) }
            do {
                try await writeWithDrops(store, batch)
                try spool.remove(through: rows.last!.id)
            } catch {
                setDatabaseUp(false)
                return
            }
        }
    }

    func setDatabaseUp(_ up: Bool) {
        let was = state.withLockedValue { s -> Bool in
            defer { s.databaseUp = up }
            return s.databaseUp
        }
        if up && !was { logger.info("database \(store?.kind ?? "") reachable again") }
    }
}
