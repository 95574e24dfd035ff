// htm bound to preact's h: the dashboard's templates (no JSX, no build step).
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
