import { openTestDatabase } from '../support/harness.ts';
import { runStoreContract } from './contract.ts';

// The embedded default: a real SQLite file (WAL) in a fresh temporary folder.
runStoreContract({ name: 'sqlite', open: () => openTestDatabase('sqlite') });
