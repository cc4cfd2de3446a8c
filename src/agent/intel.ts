// The threat-intel detector over the feeds in the store. The index is rebuilt after a feed sync
// changed a set; the detector asks for the current index on every event, so a rebuild takes
// effect at once without restarting detection.

import type Database from "better-sqlite3";
import type { Detector } from "../events/alert.js";
import { createIntelDetector, type IntelStats } from "../detectors/intel/detector.js";
import { buildIntelIndex, type IntelIndex } from "../detectors/intel/index.js";
import { feedIndicators, listFeeds } from "../store/feeds.js";

export interface StoreIntel {
  detector: Detector & { stats(): IntelStats };
  /** Rebuilds the index from the store; returns how many indicators it holds. */
  reload(): number;
}

export function indexFromStore(db: Database.Database): IntelIndex {
  return buildIntelIndex(
    listFeeds(db)
      .filter((f) => f.enabled)
      .map((f) => ({ feed: f.name, indicators: feedIndicators(db, f.name), ...(f.severity ? { severity: f.severity } : {}) })),
  );
}

export function createStoreIntel(db: Database.Database): StoreIntel {
  let index = indexFromStore(db);
  const detector = createIntelDetector({ index: () => index });
  const total = (): number => Object.values(index.size).reduce((a, b) => a + b, 0);
  return {
    detector,
    reload() {
      index = indexFromStore(db);
      return total();
    },
  };
}
