import { MemoryGateState } from '../../src/gate/memory.ts';
import { runGateCases } from './cases.ts';
import { gateContract } from './contract.ts';

const make = (opts: ConstructorParameters<typeof MemoryGateState>[0]) => new MemoryGateState(opts);
runGateCases('memory', make);
gateContract('memory', make);
