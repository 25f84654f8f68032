/**
 * The gallery's door, for the bundler glue (the dev server's gallery) and the command (`ai-image gallery`):
 * a feature built on the image service's front door, one floor above it. Front ends import the gallery from
 * here only.
 */
export { projectView, type ProjectView } from './project-view.js'
export { writeSheet, type SheetOptions, type SheetResult } from './sheet.js'
export { DevGallery, type DevGalleryOptions, type GalleryGuard } from './dev-server.js'
