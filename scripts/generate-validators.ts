import { writeGeneratedFiles } from './generated-files';
import { renderValidators } from './validators/render-validators';

/**
 * `npm run generate:validators`: writes the build-time JSON Schema validators (src/validation/generated)
 * from the schemas. `--check`: writes nothing, exits 1 when a committed module differs.
 */
writeGeneratedFiles(renderValidators(), 'npm run generate:validators');
