"""Source of the app icon: draws cer_desktop/resources/icons/cer-desktop.png (run from the repo root)."""

import cv2
import numpy as np

S = 256
INK = (40, 30, 30, 255)  # BGRA
img = np.zeros((S, S, 4), np.uint8)
cv2.circle(img, (128, 128), 118, (58, 130, 246, 255), -1, cv2.LINE_AA)
cv2.circle(img, (128, 128), 118, (30, 60, 140, 255), 6, cv2.LINE_AA)
for x in (88, 168):  # eyes and raised brows: surprise
    cv2.ellipse(img, (x, 105), (16, 20), 0, 0, 360, INK, -1, cv2.LINE_AA)
    cv2.ellipse(img, (x, 72), (24, 12), 0, 200, 340, INK, 7, cv2.LINE_AA)
cv2.ellipse(img, (128, 160), (50, 40), 0, 0, 180, INK, -1, cv2.LINE_AA)  # open smile: happiness
cv2.ellipse(img, (128, 166), (30, 16), 0, 0, 180, (90, 90, 230, 255), -1, cv2.LINE_AA)
cv2.imwrite("cer_desktop/resources/icons/cer-desktop.png", img)
