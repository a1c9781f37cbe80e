"""MediaPipe face-mesh index groups (478 points with refined irises): the one table of which
landmark is which, shared by alignment, quality, the demo's expression warps and the AU
readout. Pure constants, no MediaPipe import. "Right"/"left" are the subject's; the subject's
right side is on the image left."""

from __future__ import annotations

N_LANDMARKS = 478  # 468 mesh points + 10 iris points (refine_landmarks=True)
N_MESH = 468

# --- eyes (contours as in mp.solutions.face_mesh_connections) -----------------------------
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_OUTER, LEFT_EYE_INNER = 263, 362
RIGHT_EYE_TOP, RIGHT_EYE_BOTTOM = 159, 145  # upper / lower eyelid midpoints
LEFT_EYE_TOP, LEFT_EYE_BOTTOM = 386, 374
RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER = 468, 473
RIGHT_IRIS = (469, 470, 471, 472)
LEFT_IRIS = (474, 475, 476, 477)

# --- brows ---------------------------------------------------------------------------------
RIGHT_EYEBROW = (46, 53, 52, 65, 55, 70, 63, 105, 66, 107)
LEFT_EYEBROW = (276, 283, 282, 295, 285, 300, 293, 334, 296, 336)
RIGHT_EYEBROW_UPPER = (70, 63, 105, 66, 107)  # outer -> inner
LEFT_EYEBROW_UPPER = (300, 293, 334, 296, 336)  # outer -> inner
RIGHT_BROW_INNER, LEFT_BROW_INNER = 107, 336
RIGHT_BROW_OUTER, LEFT_BROW_OUTER = 70, 300

# --- mouth ---------------------------------------------------------------------------------
LIPS_OUTER = (
    61,
    146,
    91,
    181,
    84,
    17,
    314,
    405,
    321,
    375,
    291,
    409,
    270,
    269,
    267,
    0,
    37,
    39,
    40,
    185,
)
LIPS_INNER = (
    78,
    95,
    88,
    178,
    87,
    14,
    317,
    402,
    318,
    324,
    308,
    415,
    310,
    311,
    312,
    13,
    82,
    81,
    80,
    191,
)
MOUTH_RIGHT, MOUTH_LEFT = 61, 291  # subject's right corner (image left), left corner
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14

# --- nose, chin, face outline ---------------------------------------------------------------
NOSE_TIP = 1
NOSE_BRIDGE = 168  # between the eyes
NOSE_RIGHT_ALA, NOSE_LEFT_ALA = 98, 327
CHIN = 152
FOREHEAD = 10
RIGHT_CHEEK, LEFT_CHEEK = 234, 454  # widest face-oval points (image left / right)
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip

# --- regions the demo's expression warps move (vision/expression_warp.py) ------------------
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_LIP_OUTER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
UPPER_LIP_INNER_CONTOUR = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_LIP_INNER_CONTOUR = (95, 88, 178, 87, 14, 317, 402, 318, 324)
UPPER_LIDS = (246, 161, 160, 159, 158, 157, 173, 466, 388, 387, 386, 385, 384, 398)
LOWER_LIDS = (7, 163, 144, 145, 153, 154, 155, 249, 390, 373, 374, 380, 381, 382)
EYE_CORNERS = (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_OUTER, LEFT_EYE_INNER)
NOSE_LINE = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2)
NOSE_SIDES = (45, 48, 64, 97, 98, 115, 220, 275, 278, 294, 326, 327, 344, 440)
PHILTRUM = (164, 167, 393, 165, 391, 92, 322)
CHEEKS = (50, 280, 101, 330, 205, 425, 36, 266, 117, 346, 123, 352, 187, 411)
CHIN_REGION = (18, 200, 199, 175, 201, 421, 208, 428, 171, 396, 32, 262, 83, 313)
IRIS_CENTRES = (RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER)

# --- groups the AU readout measures (recognition/au_geometry.py) ---------------------------
AU_R_BROW_INNER = (107, 66, 55, 65)  # upper and lower contour, inner half
AU_L_BROW_INNER = (336, 296, 285, 295)
AU_R_BROW_OUTER = (70, 63, 46, 53)
AU_L_BROW_OUTER = (300, 293, 276, 283)
AU_R_BROW_INNERMOST, AU_L_BROW_INNERMOST = (107, 55), (336, 285)
AU_R_CHEEK, AU_L_CHEEK = (117, 50), (346, 280)  # below the eye / cheek apple
AU_R_NOSE_WING, AU_L_NOSE_WING = (129, 64, 48), (358, 294, 278)
# Points that move little with expressions (forehead, temples, nose bridge, eye corners, the
# face outline above the jaw): the head pose is estimated from them.
POSE_STABLE_POINTS = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 234, 454,
                      127, 356, 162, 389, 21, 251, 54, 284, 103, 332, 67, 297, 109, 338)  # fmt: skip
