import { MemoryPacer } from '../../src/pacing/memory.ts';
import { pacingContract } from './contract.ts';

pacingContract('memory', async () => new MemoryPacer());
